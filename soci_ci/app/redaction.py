"""One-line, redacted reasons for the report: what a failure says where everyone can read it.

A reason lands in the PR comment, the job summary and the action's outputs, so it is one
line, bounded, and free of credentials: URL user-info and query strings are dropped, known
secret values (tokens, passwords) and token-shaped words are masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from soci_ci.errors import SociCiError

MAX_REASON = 300
MASK = "***"
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_URL_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*")
_TOKENS = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?:AKIA|ASIA)[A-Z0-9]{16})\b"
)
_AUTH = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` on one line, at most `MAX_REASON` characters, with credentials masked."""
    out = " ".join(text.split())
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(rf"\1{MASK}@", out)
    out = _URL_QUERY.sub(rf"\1?{MASK}", out)
    out = _TOKENS.sub(MASK, out)
    out = _AUTH.sub(rf"\1 {MASK}", out)
    return out if len(out) <= MAX_REASON else out[: MAX_REASON - 1] + "…"


def reason_of(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The report's reason for ``exc``: its message; a bug also names its type."""
    if isinstance(exc, SociCiError):
        return redact(str(exc), secrets)
    return redact(f"internal error: {type(exc).__name__}: {exc}", secrets)

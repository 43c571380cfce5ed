"""Text safe to print: the one redaction every error message goes through.

`redact` removes what a server, a reference or a URL may carry that must never reach a log, a
comment or a summary: reflected `Authorization` values (Basic, Bearer, tokens), user info in
URLs and references, signed-URL query parameters (`X-Amz-Signature`, `X-Amz-Credential`,
`X-Amz-Security-Token`, `Signature`, `sig`, `token` ...), token-shaped strings (JWTs, GitHub and
AWS keys) and every secret value this process holds (`remember_secret`). It also makes the text
one line without control characters and, with `limit`, shortens it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from soci_ci.limits import ERROR_TEXT_MAX

MASK = "***"
# Query parameters that may carry credentials (pre-signed S3/CloudFront/Azure/GCS URLs, tokens).
_URL_PARAM = re.compile(
    r"(?i)^(?:x-amz-.*|x-goog-.*|signature|sig|token|access_token|id_token|refresh_token|code|"
    r"key|key-pair-id|policy|expires|se|sp|sv|sr|skoid|sktid|password|passwd|secret|"
    r"client_secret|_state|state|auth)$"
)
# The same in free text (`name=value`), fewer names so that `KEY=VALUE` stays readable.
_TEXT_PARAM = re.compile(
    r"(?i)(?<![\w-])(x-amz-[a-z0-9-]+|x-goog-[a-z0-9-]+|signature|sig|token|access_token|"
    r"id_token|refresh_token|key-pair-id|policy|password|passwd|secret|client_secret|credential)"
    r"=([^&\s\"'<>]*)"
)
_JSON_SECRET = re.compile(
    r"(?i)(\"(?:token|access_token|id_token|refresh_token|password|secret|identitytoken|auth)"
    r"\"\s*:\s*\")[^\"]*"
)
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s\"'<>]+")
# `user:password@host/...` at the start of a word (a reference or a URL without scheme).
_USERINFO = re.compile(
    r"(?i)(^|[\s\"'(=\[,])[^\s\"'/@:]{1,256}:[^\s\"'/@]{0,256}@(?=[\w.-]{1,256}(?::\d+)?/)"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|private-token|cookie|set-cookie)"
    r"(\"?\s*[:=]\s*\"?)(?:[a-z0-9-]+\s+)?[^\s\",;}]*"
)
# `Bearer <credential>` / `Basic <credential>`: a value with a digit or a symbol (not a word,
# not a `realm=` parameter).
_SCHEME_VALUE = re.compile(
    r"(?i)\b(bearer|basic)(\s+)(?![a-z]+=)(?=[a-z._~+/-]*[0-9+/=._~-])[A-Za-z0-9._~+/-]{8,}=*"
)
_TOKEN_SHAPES = re.compile(
    r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*"  # JWT
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"  # GitHub tokens
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MAX_INPUT = 64 * 1024  # characters looked at: a message is one line, not a document
_MIN_SECRET = 4  # shorter values would redact ordinary words

_secrets: set[str] = set()
_lock = threading.RLock()  # reentrant: a signal handler may raise an error mid-redaction


def remember_secret(value: str | None) -> None:
    """Redact this value (a password, a token) wherever it appears from now on."""
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def redact_url(url: str) -> str:
    """The URL without user info, fragment, and with credential-like query values as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _TEXT_PARAM.sub(rf"\1={MASK}", url.split("?", 1)[0])
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [
            (k, MASK if _URL_PARAM.match(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*:/",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, *, limit: int | None = None) -> str:
    """`text` as one line with no credential in it; cut to `limit` characters when given."""
    out = _CONTROL.sub(" ", text[:_MAX_INPUT])
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        out = out.replace(secret, MASK)
    out = _URL.sub(lambda m: redact_url(m.group(0)), out)
    out = _USERINFO.sub(r"\1", out)
    out = _AUTH_HEADER.sub(rf"\1\2{MASK}", out)
    out = _SCHEME_VALUE.sub(rf"\1\2{MASK}", out)
    out = _TOKEN_SHAPES.sub(MASK, out)
    out = _TEXT_PARAM.sub(rf"\1={MASK}", out)
    out = _JSON_SECRET.sub(rf"\1{MASK}", out)
    out = " ".join(out.split())
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)].rstrip() + "…"
    return out


def server_text(text: str, *, limit: int = ERROR_TEXT_MAX) -> str:
    """A server's own words (an error message, a reason) as they may appear in one of ours."""
    return redact(text, limit=limit)

"""Content digests (`sha256:<hex>`)."""

from __future__ import annotations

import hashlib
import re

from soci_ci.errors import InputError

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Validate a digest string before it is used in a path or URL."""
    if not _DIGEST.fullmatch(digest):
        raise InputError(
            f"unsupported or malformed digest {digest[:80]!r} (expected sha256:<64 hex>)"
        )
    return digest


def verify_content(data: bytes, digest: str, *, what: str) -> None:
    actual = sha256_digest(data)
    if actual != digest:
        raise InputError(f"{what} does not match its digest: expected {digest}, got {actual}")

"""The OCI referrers fallback tag (distribution spec 1.1): the one home of its spelling.

A registry without the referrers API lists the referrers of manifest `sha256:<hex>` in an
image index tagged `sha256-<hex>`.
"""

from __future__ import annotations

import re

_FALLBACK_TAG = re.compile(r"sha256-[0-9a-f]{64}")


def referrers_tag(digest: str) -> str:
    """`sha256:<hex>` -> `sha256-<hex>`."""
    return digest.replace(":", "-", 1)


def subject_of_tag(tag: str) -> str | None:
    """The subject digest a fallback tag stands for, None for any other tag."""
    return tag.replace("-", ":", 1) if _FALLBACK_TAG.fullmatch(tag) else None

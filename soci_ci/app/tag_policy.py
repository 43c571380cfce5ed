"""Tag policy for the SOCI-enabled image (v2): the one home of every tag decision.

The SOCI-enabled image gets a new tag, `<tag>-soci` by default: immutable repositories cannot
reuse a tag, and scanners and deploy pipelines keep seeing the original image under its tag.
`--tag` (``soci.tag``) chooses another name; moving the original tag itself is refused unless
asked for explicitly (`--overwrite-tag`, ``soci.overwrite_tag``), because it replaces the
image everyone else pulls. A v1 index gets no tag of its own (it is found through the
referrers API or its fallback tag, `soci_ci.oci.referrers`).
"""

from __future__ import annotations

from soci_ci.errors import UsageError
from soci_ci.oci.image_ref import ImageRef, Transport
from soci_ci.soci.index_manifest import IndexFormat

SOCI_TAG_SUFFIX = "-soci"


def source_tag(ref: ImageRef) -> str | None:
    """The tag the user named for the source image (None for a digest-only reference)."""
    if ref.transport is not Transport.DOCKER:
        return ref.tag
    if ref.tag:
        return ref.tag
    return None if ref.digest else "latest"


def default_soci_tag(ref: ImageRef) -> str:
    """`<tag>-soci`; `<12 hex of the digest>-soci` for a digest-only reference."""
    if ref.transport is not Transport.DOCKER:
        return f"{ref.tag}{SOCI_TAG_SUFFIX}" if ref.tag else "soci"
    if ref.tag:
        return f"{ref.tag}{SOCI_TAG_SUFFIX}"
    if ref.digest:
        return f"{ref.digest.split(':')[1][:12]}{SOCI_TAG_SUFFIX}"
    return f"latest{SOCI_TAG_SUFFIX}"


def soci_tag(
    ref: ImageRef, index_format: IndexFormat, tag: str | None, *, overwrite: bool
) -> str | None:
    """The tag the index step writes: the one asked for, else the default (v2), checked."""
    if tag is None and index_format is IndexFormat.V2:
        tag = default_soci_tag(ref)
    check_tag_policy(tag, source_tag(ref), overwrite=overwrite)
    return tag


def check_tag_policy(tag: str | None, original: str | None, *, overwrite: bool) -> None:
    """Refuse to move the original image's tag (``original``) unless ``overwrite``."""
    if tag is not None and tag == original and not overwrite:
        raise UsageError(
            f"--tag {tag} is the tag of the original image; refusing to move it",
            hint="pick another tag (default: <tag>-soci), or pass --overwrite-tag to replace "
            "the original tag with the SOCI-enabled image",
        )

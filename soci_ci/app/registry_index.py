"""Tag policy of `soci-ci index` for the SOCI-enabled image (v2).

The SOCI-enabled image gets a new tag, `<tag>-soci` by default: immutable repositories cannot
reuse a tag, and scanners and deploy pipelines keep seeing the original image under its tag.
`--tag` chooses another name; moving the original tag itself is refused unless asked for
explicitly (`--overwrite-tag`), because it replaces the image everyone else pulls.
"""

from __future__ import annotations

from soci_ci.errors import UsageError


def source_tag(transport: str, raw: str, layout_tag: str | None) -> str | None:
    """The tag the user named for the source image (None for a digest-only reference)."""
    if transport != "docker":
        return layout_tag
    from soci_ci.registry.reference import parse_reference  # noqa: PLC0415 - keep startup fast

    reference = parse_reference(raw)
    if reference.tag:
        return reference.tag
    return None if reference.digest else "latest"


def check_tag_policy(tag: str | None, original: str | None, *, overwrite: bool) -> None:
    if tag is not None and tag == original and not overwrite:
        raise UsageError(
            f"--tag {tag} is the tag of the original image; refusing to move it",
            hint="pick another tag (default: <tag>-soci), or pass --overwrite-tag to replace "
            "the original tag with the SOCI-enabled image",
        )

"""Image references, parsed once: a registry reference, an OCI layout or an OCI archive.

`oci:DIR[:TAG]` (an OCI layout), `oci-archive:FILE[:TAG]`, and registry references
(`docker://REF` or a plain `registry/repo[:tag][@digest]`). `ImageRef` is the one type every
command and the pipeline use: its `repository`, `tag` and `digest` are the parts as the user
wrote them (`soci_ci.registry.reference.parse_reference` normalizes a registry reference
for the wire, e.g. Docker Hub's `library/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from soci_ci.errors import UsageError


class Transport(StrEnum):
    DOCKER = "docker"
    OCI = "oci"
    OCI_ARCHIVE = "oci-archive"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    transport: Transport
    raw: str  # a registry reference without `docker://`; else the text as given
    path: Path | None = None  # layouts and archives
    repository: str = ""  # registry references: `registry/repo` as written
    tag: str | None = None  # the tag (a layout's or archive's tag after the last colon)
    digest: str | None = None

    def at(self, digest: str) -> str:
        """This image's repository pinned to ``digest``: `registry/repo@sha256:...`."""
        return f"{self.repository}@{digest}"


def split_reference(text: str) -> tuple[str, str | None, str | None]:
    """`name[:tag][@digest]` → (name, tag, digest) as written, unchecked: the one place that
    tells a tag's colon from a registry port's (the tag's colon comes after the last `/`)."""
    name, _, digest = text.partition("@")
    tag: str | None = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    return name, tag, digest or None


def parse_image_ref(text: str) -> ImageRef:
    """The reference ``text`` (see the module docstring)."""
    for transport in (Transport.OCI_ARCHIVE, Transport.OCI):
        prefix = transport + ":"
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            path, sep, tag = rest.rpartition(":")
            if not sep or "/" in tag:
                path, tag = rest, ""
            if not path:
                raise UsageError(f"missing path in {text!r} (expected {transport}:PATH[:TAG])")
            return ImageRef(transport=transport, path=Path(path), tag=tag or None, raw=text)
    raw = text.removeprefix("docker://")
    name, name_tag, digest = split_reference(raw)
    return ImageRef(
        transport=Transport.DOCKER, raw=raw, repository=name, tag=name_tag, digest=digest
    )


def repository_of(text: str) -> str:
    """`registry/repo` of a registry reference, as written."""
    return parse_image_ref(text).repository

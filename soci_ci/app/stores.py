"""Open an image reference as a source (and sink): `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`.

Registry references (`docker://REF` or a plain `registry/repo:tag`) are opened by the
registry client once it is available; until then they are refused with a clear message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from soci_ci.errors import UsageError
from soci_ci.oci.archive import open_archive
from soci_ci.oci.layout import OciLayout


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    transport: str  # "oci" | "oci-archive" | "docker"
    path: Path | None
    tag: str | None
    raw: str


def parse_image_ref(text: str) -> ImageRef:
    """`oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]` (the tag is after the last colon)."""
    for transport in ("oci-archive", "oci"):
        prefix = transport + ":"
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            path, sep, tag = rest.rpartition(":")
            if not sep or "/" in tag:
                path, tag = rest, ""
            if not path:
                raise UsageError(f"missing path in {text!r} (expected {transport}:PATH[:TAG])")
            return ImageRef(transport=transport, path=Path(path), tag=tag or None, raw=text)
    return ImageRef(transport="docker", path=None, tag=None, raw=text.removeprefix("docker://"))


@contextlib.contextmanager
def open_store(ref: ImageRef) -> Iterator[OciLayout]:
    if ref.transport == "oci" and ref.path is not None:
        yield OciLayout(ref.path, ref.tag)
    elif ref.transport == "oci-archive" and ref.path is not None:
        with open_archive(ref.path, ref.tag) as layout:
            yield layout
    else:
        raise UsageError(
            f"registry references ({ref.raw!r}) are not supported by this build yet; "
            "export the image first: skopeo copy docker://REF oci:DIR:TAG"
        )

"""The seam between format code and where images live.

`soci_ci.soci` and `soci_ci.app` only talk to these protocols. An OCI layout directory
(`oci:DIR`), an `oci-archive:` tar, a registry client and the test fakes all implement them,
so the bytes written are the same whatever the destination (go-containerregistry's
`remote`/`layout` split, regclient's registry-or-layout backends).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from soci_ci import limits
from soci_ci.errors import InputError
from soci_ci.oci.digest import sha256_digest


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """A manifest or index as stored: its exact bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str


class ImageSource(Protocol):
    """Read side: the image the user named, its manifests and blobs."""

    @property
    def display_name(self) -> str:
        """How to name the image in messages (never contains credentials)."""
        ...

    def resolve(self) -> Fetched:
        """The manifest or index the reference points at."""
        ...

    def fetch_manifest(self, digest: str) -> Fetched:
        """A manifest or index by digest (content verified against the digest)."""
        ...

    def open_blob(self, digest: str, size: int) -> AbstractContextManager[BinaryIO]:
        """A streaming reader of a blob; constant memory, whole blob, in order.

        A reader with a true `verifies_digest` attribute checks digest and size itself
        (raising when the last byte is read); callers hash any other reader themselves.
        """
        ...

    def read_blob_range(self, digest: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a blob (an HTTP Range request on registries)."""
        ...


class ImageSink(Protocol):
    """Write side. Callers push children before parents and tag last."""

    def has_blob(self, digest: str) -> bool: ...

    def push_blob(self, digest: str, data: bytes) -> None: ...

    def has_manifest(self, digest: str) -> bool: ...

    def push_manifest(self, data: bytes, media_type: str, digest: str) -> None:
        """Store a manifest/index by digest with its exact bytes (no tag)."""
        ...

    def tag(self, tag: str, data: bytes, media_type: str, digest: str) -> bool:
        """Point `tag` at an already pushed manifest/index; False if it already did."""
        ...


def read_blob(
    source: ImageSource, digest: str, size: int, *, limit: int = limits.MAX_ZTOC_READ
) -> bytes:
    """A whole (small) blob, checked against its digest; `limit` refuses larger ones before
    anything is read (the default: the largest zTOC soci-ci reads back)."""
    if size > limit:
        raise InputError(f"blob {digest} is {size} bytes; more than the {limit} expected")
    with source.open_blob(digest, size) as fh:
        data = fh.read(size + 1)
    if len(data) != size or sha256_digest(data) != digest:
        raise InputError(f"blob {digest} does not match its digest")
    return data

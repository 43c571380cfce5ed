"""The seam between format code and where images live.

`soci_ci.soci` and `soci_ci.app` only talk to these protocols. An OCI layout directory
(`oci:DIR`), an `oci-archive:` tar, a registry client and the test fakes all implement them,
so the bytes written are the same whatever the destination (go-containerregistry's
`remote`/`layout` split, regclient's registry-or-layout backends).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol, runtime_checkable

from soci_ci import limits
from soci_ci.errors import InputError
from soci_ci.oci.digest import sha256_digest


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """A manifest or index as stored: its exact bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str


@runtime_checkable
class VerifiedBlobReader(Protocol):
    """A blob reader that checks the blob's digest and size itself as the last byte arrives
    (a registry stream); readers without this need hashing by the caller."""

    verifies_digest: Literal[True]

    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class BlobSizeChecker(Protocol):
    """A source that can tell a blob's size without reading it (an OCI layout's file): a
    read by `Range` requests alone would not see bytes past the descriptor's size."""

    def check_blob_size(self, digest: str, size: int) -> None:
        """Raise `InputError` when the blob is not `size` bytes."""
        ...


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

        A `VerifiedBlobReader` checks digest and size itself (raising when the last byte
        is read); callers hash any other reader themselves.
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
    parts: list[bytes] = []
    got = 0
    with source.open_blob(digest, size) as fh:
        # A stream may answer a read with fewer bytes than asked (a registry's body does).
        while got <= size and (part := fh.read(size + 1 - got)):
            parts.append(part)
            got += len(part)
    data = b"".join(parts)
    if len(data) != size or sha256_digest(data) != digest:
        raise InputError(f"blob {digest} does not match its digest")
    return data

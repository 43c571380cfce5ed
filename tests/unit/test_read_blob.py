"""`read_blob` reads a whole small blob (a zTOC) from streams that answer reads in pieces."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO, cast

import pytest

from soci_ci.errors import InputError
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.store import ImageSource, read_blob


class Trickle(io.RawIOBase):
    """A body that hands out at most 1000 bytes per read, as a registry response does with
    its chunks (a 4.5 MB zTOC arrives in many)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        take = 1000 if n < 0 else min(n, 1000)
        out = self._data[self._at : self._at + take]
        self._at += len(out)
        return out


class Source:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open_blob(self, digest: str, size: int) -> AbstractContextManager[BinaryIO]:
        return nullcontext(cast(BinaryIO, Trickle(self.data)))


def test_a_blob_read_in_pieces_is_read_whole() -> None:
    data = bytes(range(256)) * 40
    source = cast(ImageSource, Source(data))
    assert read_blob(source, sha256_digest(data), len(data)) == data
    with pytest.raises(InputError, match="does not match its digest"):
        read_blob(source, sha256_digest(data), len(data) - 1)  # a longer blob than described
    with pytest.raises(InputError, match="does not match its digest"):
        read_blob(cast(ImageSource, Source(data + b"x")), sha256_digest(data), len(data))

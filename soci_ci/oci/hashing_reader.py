"""A stream wrapper that checks a blob's digest and size while it is being consumed."""

from __future__ import annotations

import hashlib
from typing import BinaryIO


class HashingReader:
    """Reads through `raw`, hashing every byte."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def readinto(self, view: memoryview) -> int:
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            n = int(readinto(view) or 0)
        else:
            data = self._raw.read(len(view))
            n = len(data)
            view[:n] = data
        if n:
            self._hash.update(view[:n])
            self.size += n
        return n

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

"""One pass over an uncompressed tar layer: the bytes for the tar reader and span digests.

Uncompressed layers (notes 1b, "Uncompressed tar layers") are cut into fixed windows of the
file, span i = [i·span, min((i+1)·span, size)); their SHA-256 digests are computed as the
bytes stream by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from soci_ci import limits
from soci_ci.errors import LayerError

if TYPE_CHECKING:
    from soci_ci.soci.gzip_index import LayerStream

CHUNK = 1 << 20


class PlainScanner:
    """Serves a plain tar file as a `TarStream` while hashing fixed-size spans."""

    def __init__(self, source: LayerStream, span_size: int) -> None:
        self._source = source
        self._span_size = span_size
        self._buf = b""
        self._pos = 0  # read position inside _buf
        self._eof = False
        self.compressed_size = 0
        self.span_digests: list[str] = []
        self._hasher = hashlib.sha256()
        self._span_fill = 0

    def _hash(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self._span_size - self._span_fill)
            self._hasher.update(view[:take])
            self._span_fill += take
            view = view[take:]
            if self._span_fill == self._span_size:
                if len(self.span_digests) >= limits.MAX_ZTOC_SPANS:
                    raise LayerError(
                        f"the layer needs more than {limits.MAX_ZTOC_SPANS} spans of "
                        f"{self._span_size} bytes",
                        hint="use a larger --span-size for very large layers",
                    )
                self.span_digests.append("sha256:" + self._hasher.hexdigest())
                self._hasher = hashlib.sha256()
                self._span_fill = 0

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._source.read(CHUNK)
        if not data:
            self._eof = True
            return False
        self.compressed_size += len(data)
        self._hash(data)
        self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
        self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and self._more():
            pass
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def skip(self, n: int, sink: Callable[[memoryview], object] | None = None) -> int:
        """Discard up to `n` bytes (shown to `sink` first, if given)."""
        done = 0
        while done < n:
            avail = len(self._buf) - self._pos
            if avail == 0:
                self._buf, self._pos = b"", 0
                if not self._more():
                    break
                continue
            take = min(avail, n - done)
            if sink is not None:
                sink(memoryview(self._buf)[self._pos : self._pos + take])
            self._pos += take
            done += take
        return done

    def finish(self) -> None:
        self._buf, self._pos = b"", 0
        while self._more():
            self._buf = b""
        if self._span_fill:
            self.span_digests.append("sha256:" + self._hasher.hexdigest())
            self._span_fill = 0

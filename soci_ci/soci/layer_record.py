"""What one streaming read of a layer proves, kept for verify: the layer is read once per run.

While a layer streams through the zTOC builder (its bytes checked against the layer digest),
a `LayerRecorder` taps the tar stream and keeps the SHA-256 of every regular file's bytes;
the builder adds the compressed range and digest of each span. The resulting `LayerRecord`
is what `verify` needs from a sequential read (the truth its lazy reads are compared with),
so `run` verifies without downloading the layer again. Its size is one digest per regular
file and per span, like the zTOC itself, whatever the layer's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from soci_ci.soci.tar_toc import FileMetadata, TarStream

CHUNK = 1 << 20

SpanRange = tuple[int, int]  # compressed [start, end) of a span
FileKey = tuple[int, int]  # (uncompressed offset, size) of a regular file's data


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    """The truth about one layer: span digests by compressed range, file digests by place."""

    layer: str  # layer digest
    size: int
    spans: Mapping[SpanRange, str] = field(repr=False)  # -> "sha256:<hex>" of those bytes
    files: Mapping[FileKey, bytes] = field(repr=False)  # -> SHA-256 (32 bytes) of the data
    error: str | None = None  # the layer stopped decompressing here (spans still hashed)
    ztoc: bytes = field(default=b"", repr=False)  # the zTOC built from this read, if any


class _Source(Protocol):
    def read(self, n: int) -> bytes: ...


class LayerRecorder:
    """Collects file digests from the tar stream the zTOC builder reads (`tap` + `entry`)."""

    def __init__(self, wanted: set[FileKey] | None = None) -> None:
        self.wanted = wanted  # only these files (None: every regular file)
        self.files: dict[FileKey, bytes] = {}
        self.spans: dict[SpanRange, str] = {}
        self._file: tuple[int, int] | None = None  # offset, size of the file being skipped
        self._hasher: hashlib._Hash | None = None

    def tap(self, stream: TarStream) -> TarStream:
        return _Tap(stream, self)

    def entry(self, e: FileMetadata) -> None:
        """Called for each TOC entry as the tar reader returns it (its data follows)."""
        key = (e.uncompressed_offset, e.uncompressed_size)
        if e.type == b"reg" and key[1] > 0 and (self.wanted is None or key in self.wanted):
            self._file = key
            self._hasher = hashlib.sha256()
        else:
            self._file = self._hasher = None

    def set_spans(self, ranges: list[SpanRange], digests: list[str]) -> None:
        self.spans = dict(zip(ranges, digests, strict=True))

    def record(self, layer: str, size: int, ztoc: bytes = b"") -> LayerRecord:
        return LayerRecord(layer=layer, size=size, spans=self.spans, files=self.files, ztoc=ztoc)


class _Tap:
    """A `TarStream` that hashes the current regular file's data as the tar reader skips it
    (the scanners show the skipped bytes to a sink without copying them)."""

    def __init__(self, inner: TarStream, recorder: LayerRecorder) -> None:
        self.inner = inner
        self.rec = recorder
        self.pos = 0

    def read(self, n: int) -> bytes:
        data = self.inner.read(n)
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        rec, done = self.rec, 0
        if rec._file is not None and rec._hasher is not None:
            offset, size = rec._file
            want = min(offset + size - self.pos, n)
            if want > 0:
                done = self.inner.skip(want, rec._hasher.update)  # type: ignore[call-arg]
                self.pos += done
                if done < want:
                    return done
            if self.pos >= offset + size:
                rec.files[rec._file] = rec._hasher.digest()
                rec._file = rec._hasher = None
        got = self.inner.skip(n - done)
        self.pos += got
        return done + got


def gzip_span_ranges(starts: list[tuple[int, int]], size: int) -> list[SpanRange]:
    """Span i = [in_i - (1 if bits_i else 0), in_{i+1}), the last one to the end of the layer."""
    ends = [s for s, _ in starts[1:]] + [size]
    return [(i - (1 if bits else 0), end) for (i, bits), end in zip(starts, ends, strict=True)]


def plain_span_ranges(span_size: int, size: int) -> list[SpanRange]:
    return [(at, min(at + span_size, size)) for at in range(0, size, span_size)]


class SpanTap:
    """Wraps a raw layer stream: SHA-256 of given compressed ranges as the bytes go by.

    Thread-safe (the builder reads from a read-ahead thread, verify drains the rest after a
    decompression error): each read is hashed under the lock, so always in stream order.
    Consecutive ranges may share one byte (a checkpoint with non-zero `bits`).
    """

    def __init__(self, source: _Source, ranges: list[SpanRange]) -> None:
        import threading  # noqa: PLC0415 - only verify needs it

        self._source = source
        self._ranges = ranges
        self._hashers = [hashlib.sha256() for _ in ranges]
        self._first = 0
        self._at = 0
        self._lock = threading.Lock()

    def _update(self, view: memoryview) -> None:
        at, end = self._at, self._at + len(view)
        k = self._first
        while k < len(self._ranges) and self._ranges[k][0] < end:
            lo, hi = max(self._ranges[k][0], at), min(self._ranges[k][1], end)
            if hi > lo:
                self._hashers[k].update(view[lo - at : hi - at])
            if self._ranges[k][1] <= end and k == self._first:
                self._first += 1
            k += 1
        self._at = end

    def read(self, n: int = -1) -> bytes:
        with self._lock:
            data = self._source.read(n)
            self._update(memoryview(data))
            return data

    def readinto(self, view: memoryview) -> int:
        with self._lock:
            data = self._source.read(len(view))
            view[: len(data)] = data
            self._update(memoryview(data))
            return len(data)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digests(self) -> dict[SpanRange, str]:
        return {
            r: "sha256:" + h.hexdigest() for r, h in zip(self._ranges, self._hashers, strict=True)
        }


OnEntry = Callable[[FileMetadata], None]

"""What one streaming read of a layer proves, kept for verify: the layer is read once per run.

While a layer streams through the zTOC builder (its bytes checked against the layer digest),
a `LayerRecorder` taps the tar stream: it keeps a digest of each span's uncompressed bytes
(the span cut where the zTOC's checkpoints are, as they are placed) and the place of every
regular file; the builder adds the compressed range and digest of each span. The resulting
`LayerRecord` is what `verify` needs from a sequential read (the truth its lazy reads are
compared with), so `run` verifies without downloading the layer again. Its size is one
digest per span and one place per regular file, like the zTOC itself, whatever the layer's
size.

Which digest of the uncompressed bytes (`ContentDigest`) is decided here, once. A span
inflated from its checkpoint is a function of the checkpoint and of the span's compressed
bytes; those are pinned by SHA-256 (the zTOC's span digests, checked against the record). So
the uncompressed digest only has to catch a wrong checkpoint: with a zTOC built by this same
read (`run`: index records, verify checks that zTOC) nobody else chose any input, and CRC-32
(zlib-ng's, about ten times as fast as SHA-256 here) catches a mistake but for 2^-32; with
a zTOC from elsewhere (read from the registry) its checkpoints, and so the inflated bytes,
could be chosen to collide, so the digest is SHA-256. `LayerRecord.usable_with` is that rule.
SHA-256 is hashed on a thread of its own (hashlib releases the GIL), through a bounded queue,
so the tar reader does not wait for it; CRC-32 is computed inline.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from soci_ci.soci.tar_toc import FileMetadata, TarStream
from soci_ci.soci.zlib_binding import crc32

CHUNK = 1 << 20
STAGE = 1 << 18  # small reads (tar headers) are gathered up to this before being hashed
QUEUED = 8  # chunks waiting for the hashing thread (memory: QUEUED x CHUNK at most)

SpanRange = tuple[int, int]  # [start, end) of a span: compressed, or uncompressed
FileKey = tuple[int, int]  # (uncompressed offset, size) of a regular file's data


class ContentDigest(StrEnum):
    """How a span's uncompressed bytes are digested for the lazy-read comparison."""

    SHA256 = "sha256"  # any zTOC: its checkpoints may have been chosen by someone else
    CRC32 = "crc32"  # only the zTOC built by the same read (nobody else chose its checkpoints)

    def new(self) -> SpanHasher:
        return hashlib.sha256() if self is ContentDigest.SHA256 else Crc32()


class SpanHasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


class Crc32:
    """A hashlib-like CRC-32 (4 bytes, big-endian)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self.value = crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerRecord:
    """The truth about one layer: span digests by compressed range, a digest (`content`) of
    each span's uncompressed bytes by uncompressed range, and where the regular files are."""

    layer: str  # layer digest
    size: int
    spans: Mapping[SpanRange, str] = field(repr=False)  # -> "sha256:<hex>" of those bytes
    contents: Mapping[SpanRange, bytes] = field(repr=False)  # -> `content` digest
    files: AbstractSet[FileKey] = field(repr=False)  # every regular file of the tar parse
    error: str | None = None  # the layer stopped decompressing here (spans still hashed)
    ztoc: bytes = field(default=b"", repr=False)  # the zTOC built from this read, if any
    content: ContentDigest = ContentDigest.SHA256

    def usable_with(self, ztoc: bytes) -> bool:
        """Whether this record may be the truth for checking `ztoc` (the module's rule)."""
        return self.content is ContentDigest.SHA256 or (bool(self.ztoc) and self.ztoc == ztoc)


class _Source(Protocol):
    def read(self, n: int) -> bytes: ...


class LayerRecorder:
    """Collects span content digests and file places from the tar stream the zTOC builder
    reads (`tap` + `entry`).

    `cuts` are the uncompressed offsets where spans start (span k is [cuts[k], cuts[k+1]),
    the last one to the end of the tar); the builder may still be growing it (`follow`),
    which is safe because a checkpoint is placed before any byte after it is read. Only the
    spans in `wanted` are hashed (None: all), with `content`.
    """

    def __init__(
        self,
        cuts: Cuts | None = None,
        wanted: AbstractSet[int] | None = None,
        content: ContentDigest = ContentDigest.SHA256,
    ) -> None:
        self.cuts: Cuts = cuts if cuts is not None else ()
        self.wanted = wanted
        self.content = content
        self.files: set[FileKey] = set()
        self.spans: dict[SpanRange, str] = {}
        self.contents: dict[SpanRange, bytes] = {}
        self._pos = 0  # uncompressed bytes read so far
        self._k = -1  # the span being read (-1: before the first cut)
        self._hasher: SpanHasher | None = None
        self._stage = bytearray()
        self._jobs: queue.Queue[_Job | None] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None

    def follow(self, cuts: Cuts) -> None:
        """Cut spans where the builder places its checkpoints (a sequence it appends to)."""
        self.cuts = cuts

    def tap(self, stream: TarStream) -> TarStream:
        return _Tap(stream, self)

    def entry(self, e: FileMetadata) -> None:
        """Called for each TOC entry as the tar reader returns it (its data follows)."""
        if e.type == b"reg" and e.uncompressed_size > 0:
            self.files.add((e.uncompressed_offset, e.uncompressed_size))

    def consume(self, view: memoryview) -> None:
        """The next bytes of the tar stream, in order (valid only during the call)."""
        at, n, cuts = 0, len(view), self.cuts
        while at < n:
            k = self._k
            if k + 1 < len(cuts) and cuts[k + 1] <= self._pos:
                self._next_span()
                continue
            take = n - at if k + 1 >= len(cuts) else min(n - at, cuts[k + 1] - self._pos)
            if self._hasher is not None:
                self._add(self._hasher, view[at : at + take])
            at += take
            self._pos += take

    def _add(self, hasher: SpanHasher, piece: memoryview) -> None:
        if self.content is ContentDigest.CRC32:  # inline: cheaper than handing it over
            hasher.update(piece)
        elif len(piece) >= STAGE:
            self._flush(hasher)
            self._put((hasher, bytes(piece)))
        else:
            self._stage += piece
            if len(self._stage) >= STAGE:
                self._flush(hasher)

    def _flush(self, hasher: SpanHasher) -> None:
        if self._stage:
            self._put((hasher, self._stage))
            self._stage = bytearray()

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=_hash_worker, args=(self._jobs, self.contents), daemon=True
            )
            self._thread.start()
        self._jobs.put(job)

    def _close_span(self) -> None:
        if self._hasher is not None:
            span = (self.cuts[self._k], self._pos)
            if self.content is ContentDigest.CRC32:
                self.contents[span] = self._hasher.digest()
            else:
                self._flush(self._hasher)
                self._put((self._hasher, span))
            self._hasher = None

    def _next_span(self) -> None:
        self._close_span()
        self._k += 1
        if self.wanted is None or self._k in self.wanted:
            self._hasher = self.content.new()

    def finish(self) -> None:
        """The tar stream ended (or failed): close the last span, wait for the hashing."""
        self._close_span()
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def set_spans(self, ranges: list[SpanRange], digests: list[str]) -> None:
        self.spans = dict(zip(ranges, digests, strict=True))

    def record(self, layer: str, size: int, ztoc: bytes = b"") -> LayerRecord:
        self.finish()
        return LayerRecord(
            layer=layer,
            size=size,
            spans=self.spans,
            contents=self.contents,
            files=frozenset(self.files),
            ztoc=ztoc,
            content=self.content,
        )


# A hashing job: (hasher, bytes) feeds it; (hasher, range) stores its digest under range.
_Job = tuple[SpanHasher, "bytes | bytearray | SpanRange"]


def _hash_worker(jobs: queue.Queue[_Job | None], out: dict[SpanRange, bytes]) -> None:
    while (job := jobs.get()) is not None:
        hasher, payload = job
        if isinstance(payload, tuple):
            out[payload] = hasher.digest()
        else:
            hasher.update(payload)


class _Tap:
    """A `TarStream` that shows every byte the tar reader reads or skips to the recorder
    (the scanners show skipped bytes to a sink without copying them)."""

    def __init__(self, inner: TarStream, recorder: LayerRecorder) -> None:
        self.inner = inner
        self.rec = recorder

    def read(self, n: int) -> bytes:
        data = self.inner.read(n)
        self.rec.consume(memoryview(data))
        return data

    def skip(self, n: int) -> int:
        return self.inner.skip(n, self.rec.consume)  # type: ignore[call-arg]


class Cuts(Protocol):
    """Where spans start in the uncompressed stream: a list, a range, or `CheckpointOffsets`."""

    def __len__(self) -> int: ...
    def __getitem__(self, k: int, /) -> int: ...


class _HasOut(Protocol):
    @property
    def out_offset(self) -> int: ...


class CheckpointOffsets:
    """The uncompressed offsets of the builder's checkpoints, as they are placed."""

    def __init__(self, checkpoints: Sequence[_HasOut]) -> None:
        self._checkpoints = checkpoints

    def __len__(self) -> int:
        return len(self._checkpoints)

    def __getitem__(self, k: int, /) -> int:
        return self._checkpoints[k].out_offset


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

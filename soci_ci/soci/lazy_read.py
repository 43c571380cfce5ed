"""The lazy-read proof: each needed span read once, from its checkpoint, as the snapshotter does.

For the files to check, the spans that hold them are fetched with one `Range` request each
(ranges larger than `VERIFY_RANGE_PIECE` in several pieces); the digest of each span's bytes
is kept (the caller compares it with the sequential read: a registry that serves other
bytes for a range is caught), and each span is inflated from its checkpoint alone and cut
into the files (or pieces of files) it holds, whose digests the caller compares with the
sequential read's (which may run at the same time). Spans that a checked file crosses are
read in order by one worker; independent runs of spans are read in parallel. Memory: per
worker one range piece and one output buffer.

What a lazy start costs per file (bytes and requests) is computed from the zTOC, not fetched.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from soci_ci.errors import InputError
from soci_ci.limits import VERIFY_RANGE_PIECE
from soci_ci.soci.span_reader import inflate_from_checkpoint
from soci_ci.soci.tar_toc import FileMetadata

if TYPE_CHECKING:
    from soci_ci.soci.verify import Span

LAZY_WORKERS = 4  # runs of spans read at once (round trips overlap; inflate releases the GIL)


class RangeReader(Protocol):
    def read_range(self, start: int, end: int) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    first: int  # index of the file's first span
    last: int
    fetched: int  # compressed bytes a lazy reader fetches for this file
    requests: int


def file_costs(spans: Sequence[Span], files: Sequence[FileMetadata]) -> list[Cost]:
    """Per file, the spans a lazy reader fetches for it (one request per span)."""
    starts = [s.u_start for s in spans]
    costs = []
    for e in files:
        first = max(bisect.bisect_right(starts, e.uncompressed_offset) - 1, 0)
        end = e.uncompressed_offset + e.uncompressed_size - 1
        last = max(bisect.bisect_right(starts, end) - 1, first)
        fetched = sum(s.c_end - s.c_start for s in spans[first : last + 1])
        costs.append(Cost(first=first, last=last, fetched=fetched, requests=last - first + 1))
    return costs


@dataclass(slots=True, kw_only=True)
class PassResult:
    digests: dict[int, bytes] = field(default_factory=dict)  # file offset -> SHA-256
    errors: dict[int, str] = field(default_factory=dict)  # file offset -> why not read
    ranges: dict[int, str] = field(default_factory=dict)  # span -> digest of the bytes read
    fetched: int = 0  # compressed bytes read by Range requests
    requests: int = 0


def lazy_pass(
    reader: RangeReader, spans: Sequence[Span], files: Sequence[FileMetadata], costs: Sequence[Cost]
) -> PassResult:
    """Read every span the files need once: the digest of each file as a lazy read gives it,
    and of each span's bytes as the Range requests returned them (compare with the truth)."""
    crossing = {k for c in costs for k in range(c.first, c.last)}  # span k joins k+1
    needed = sorted({k for c in costs for k in range(c.first, c.last + 1)})
    runs: list[list[int]] = []
    for k in needed:
        if runs and runs[-1][-1] == k - 1 and k - 1 in crossing:
            runs[-1].append(k)
        else:
            runs.append([k])
    run_of = {k: n for n, run in enumerate(runs) for k in run}
    members: list[list[FileMetadata]] = [[] for _ in runs]
    for e, c in zip(files, costs, strict=True):
        members[run_of[c.first]].append(e)
    result = PassResult()
    with ThreadPoolExecutor(max_workers=max(1, min(LAZY_WORKERS, len(runs)))) as pool:
        parts = list(
            pool.map(lambda n: _read_run(reader, spans, runs[n], members[n]), range(len(runs)))
        )
    for part in parts:
        result.digests.update(part.digests)
        result.errors.update(part.errors)
        result.ranges.update(part.ranges)
        result.fetched += part.fetched
        result.requests += part.requests
    return result


class _Feeder:
    """Cuts a run of uncompressed output into the files it holds and hashes each."""

    def __init__(self, files: list[FileMetadata]) -> None:
        self.files = sorted(files, key=lambda e: e.uncompressed_offset)
        self.next = 0
        self.active: list[tuple[FileMetadata, hashlib._Hash]] = []
        self.pos = 0
        self.done: dict[int, bytes] = {}

    def feed(self, view: memoryview) -> None:
        start, end = self.pos, self.pos + len(view)
        while self.next < len(self.files) and self.files[self.next].uncompressed_offset < end:
            self.active.append((self.files[self.next], hashlib.sha256()))
            self.next += 1
        still = []
        for e, hasher in self.active:
            off, size = e.uncompressed_offset, e.uncompressed_size
            lo, hi = max(off, start), min(off + size, end)
            if hi > lo:
                hasher.update(view[lo - start : hi - start])
            if off + size <= end:
                self.done[off] = hasher.digest()
            else:
                still.append((e, hasher))
        self.active = still
        self.pos = end


def _pieces(reader: RangeReader, start: int, end: int) -> Iterator[bytes]:
    """The bytes [start, end), one Range request per piece of at most VERIFY_RANGE_PIECE."""
    at = start
    while at < end:
        data = reader.read_range(at, min(end, at + VERIFY_RANGE_PIECE))
        if not data:
            raise InputError(f"empty answer for bytes {at}-{end}")
        at += len(data)
        yield data


def _prefetched(
    reader: RangeReader, spans: Sequence[Span], run: list[int]
) -> Iterator[tuple[int, Iterator[bytes]]]:
    """Each span of the run with its bytes; the next span's Range request is already on its
    way while this one is inflated (only spans of at most one piece are read ahead)."""
    with ThreadPoolExecutor(max_workers=1) as ahead:

        def fetch(k: int) -> Future[list[bytes]] | None:
            span = spans[k]
            if span.c_end - span.c_start > VERIFY_RANGE_PIECE:
                return None
            return ahead.submit(lambda: list(_pieces(reader, span.c_start, span.c_end)))

        pending = fetch(run[0])
        for n, k in enumerate(run):
            current = pending
            pending = fetch(run[n + 1]) if n + 1 < len(run) else None
            if current is None:
                yield k, _pieces(reader, spans[k].c_start, spans[k].c_end)
            else:
                try:
                    yield k, iter(current.result())
                except InputError as exc:
                    yield k, _raise(exc)


def _raise(exc: InputError) -> Iterator[bytes]:
    raise exc
    yield b""  # pragma: no cover - makes this a generator


def _read_run(
    reader: RangeReader,
    spans: Sequence[Span],
    run: list[int],
    files: list[FileMetadata],
) -> PassResult:
    part = PassResult()
    feeder = _Feeder(files)
    for k, pieces in _prefetched(reader, spans, run):
        span = spans[k]
        hasher = hashlib.sha256()

        def chunks(
            pieces: Iterator[bytes] = pieces, hasher: hashlib._Hash = hasher
        ) -> Iterator[bytes]:
            for data in pieces:
                part.fetched += len(data)
                part.requests += 1
                hasher.update(data)
                yield data

        feeder.pos = span.u_start
        length = span.u_end - span.u_start
        gen = chunks()
        try:
            if span.checkpoint is not None:
                inflate_from_checkpoint(gen, span.checkpoint, length, feeder.feed)
            else:
                for data in gen:
                    left = span.u_start + length - feeder.pos
                    if left > 0:
                        feeder.feed(memoryview(data)[:left])
            for _ in gen:  # the rest of the range (trailer, next members): for the digest
                pass
        except InputError as exc:
            for e in files:
                if e.uncompressed_offset not in feeder.done:
                    part.errors.setdefault(e.uncompressed_offset, f"span {k}: {exc.message}")
            return part
        part.ranges[k] = "sha256:" + hasher.hexdigest()
    part.digests.update(feeder.done)
    return part

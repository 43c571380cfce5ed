"""The lazy-read proof: each needed span read once, from its checkpoint, as the snapshotter does.

For the files to check, the spans that hold them are fetched with one `Range` request each
(ranges larger than `VERIFY_RANGE_PIECE` in several pieces). Each span is read on its own,
as a lazy loader reads it: the SHA-256 of its compressed bytes is kept (the caller compares
it with the sequential read: a registry that serves other bytes for a range is caught), and
the span is inflated from its checkpoint alone and the digest of its uncompressed bytes
kept (the record's `ContentDigest`, soci/layer_record.py); the caller compares that with the
sequential read's digest of the same uncompressed range, which proves every file, or piece
of a file, inside the span at once. Spans are independent, so they are read in parallel
(round trips overlap; inflate and hashing release the GIL). Memory: per worker one range
piece and one output buffer.

What a lazy start costs per file (bytes and requests) is computed from the zTOC, not fetched.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from soci_ci.errors import InputError
from soci_ci.limits import VERIFY_RANGE_PIECE
from soci_ci.soci.layer_record import ContentDigest
from soci_ci.soci.span_reader import inflate_from_checkpoint
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.zlib_binding import Inflater

if TYPE_CHECKING:
    from soci_ci.soci.verify import Span

LAZY_WORKERS = 4  # spans read at once (round trips overlap; inflate releases the GIL)


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
    ranges: dict[int, str] = field(default_factory=dict)  # span -> digest of the bytes read
    contents: dict[int, bytes] = field(default_factory=dict)  # span -> digest, uncompressed
    errors: dict[int, str] = field(default_factory=dict)  # span -> why it could not be read
    fetched: int = 0  # compressed bytes read by Range requests
    requests: int = 0


def needed_spans(costs: Sequence[Cost]) -> list[int]:
    """The spans the checked files touch, in order, each once."""
    return sorted({k for c in costs for k in range(c.first, c.last + 1)})


def lazy_pass(
    reader: RangeReader,
    spans: Sequence[Span],
    needed: Sequence[int],
    inflater: Inflater,
    content: ContentDigest = ContentDigest.SHA256,
) -> PassResult:
    """Read each needed span once, as a lazy loader does: the digest of the bytes the Range
    requests returned, and (`content`) of the uncompressed bytes inflated from its checkpoint."""
    result = PassResult()

    def read(k: int) -> _SpanRead:
        return _read_span(reader, spans[k], inflater, content)

    with ThreadPoolExecutor(max_workers=max(1, min(LAZY_WORKERS, len(needed)))) as pool:
        for k, one in zip(needed, pool.map(read, needed), strict=True):
            result.fetched += one.fetched
            result.requests += one.requests
            if one.error is not None:
                result.errors[k] = one.error
            else:
                result.ranges[k], result.contents[k] = one.range_digest, one.content
    return result


@dataclass(slots=True)
class _SpanRead:
    fetched: int = 0
    requests: int = 0
    range_digest: str = ""
    content: bytes = b""
    error: str | None = None


def _pieces(reader: RangeReader, start: int, end: int) -> Iterator[bytes]:
    """The bytes [start, end), one Range request per piece of at most VERIFY_RANGE_PIECE."""
    at = start
    while at < end:
        data = reader.read_range(at, min(end, at + VERIFY_RANGE_PIECE))
        if not data:
            raise InputError(f"empty answer for bytes {at}-{end}")
        at += len(data)
        yield data


def _read_span(
    reader: RangeReader, span: Span, inflater: Inflater, kind: ContentDigest
) -> _SpanRead:
    out = _SpanRead()
    compressed, content = hashlib.sha256(), kind.new()

    def chunks() -> Iterator[bytes]:
        for data in _pieces(reader, span.c_start, span.c_end):
            out.fetched += len(data)
            out.requests += 1
            compressed.update(data)
            yield data

    length = span.u_end - span.u_start
    gen = chunks()
    try:
        if span.checkpoint is not None:
            inflate_from_checkpoint(gen, span.checkpoint, length, content.update, inflater)
        else:  # an uncompressed layer: the span's bytes are the file bytes
            left = length
            for data in gen:
                if left > 0:
                    content.update(memoryview(data)[:left])
                    left -= min(left, len(data))
                if left <= 0:
                    break
        for _ in gen:  # the rest of the range (trailer, next members): for the digest
            pass
    except InputError as exc:
        out.error = exc.message
        return out
    out.range_digest = "sha256:" + compressed.hexdigest()
    out.content = content.digest()
    return out

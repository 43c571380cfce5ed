"""`verify` alone: the layer read once, through the per-span Range reads, as its own truth.

Each span k is fetched with its Range request(s) and inflated from checkpoint k alone (as the
snapshotter does; spans in parallel). Chain check: inflating span k must stop exactly at
checkpoint k+1 (a deflate block boundary at the same compressed offset and `bits`, after
exactly `out(k+1) - out(k)` bytes), and the window it leaves (the last 32 KiB of the output,
preceded by checkpoint k's window) must be byte-equal to checkpoint k+1's; the last span
must end with its gzip member at the end of the layer. Checkpoint 0 must be the stream start
(just after the gzip header, nothing produced, a zero window). By induction the spans'
outputs, in order, are the layer's uncompressed stream, so they are the truth: they are
consumed in order on one thread, through a reorder window of a few spans (memory bounded
whatever the layer size), for the layer digest (SHA-256 over the header bytes and each
span's range, the byte two consecutive ranges share counted once; it must equal the layer's
descriptor digest) and the tar parse of the zTOC builder (where the regular files are).
Any failure is reported as a chain problem; the caller then diagnoses with the sequential read.
"""

from __future__ import annotations

import ctypes
import hashlib
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from soci_ci.errors import InputError, LayerError
from soci_ci.limits import CHAIN_MAX_SPAN, CHAIN_MAX_TAIL
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.layer_record import LayerRecord, LayerRecorder
from soci_ci.soci.lazy_read import LAZY_WORKERS, PassResult, RangeReader, _pieces
from soci_ci.soci.span_reader import gzip_header_length
from soci_ci.soci.tar_toc import read_toc
from soci_ci.soci.zlib_binding import (
    GZIP_AUTO_WINDOW_BITS,
    RAW_WINDOW_BITS,
    WINDOW_SIZE,
    Z_BLOCK,
    Z_BUF_ERROR,
    Z_OK,
    Z_STREAM_END,
    Inflater,
    crc32,
)

REORDER = 2 * LAZY_WORKERS  # spans fetched ahead of the in-order consumer (memory bound)
OUT_CHUNK = 1 << 20

if TYPE_CHECKING:
    from soci_ci.soci.verify import Span


@dataclass(slots=True)
class _Link:
    """One span as read and inflated from its checkpoint."""

    data: bytes = b""  # the compressed bytes of its range
    out: list[bytes] = field(default_factory=list)  # its uncompressed bytes, in order
    requests: int = 0
    range_digest: str = ""
    end: tuple[int, int] | None = None  # (compressed offset, bits) where inflate stopped
    # Where gzip members end in `out` (piece index) and their trailer when raw inflate left
    # it unchecked (None: zlib checked it, the member started in this span).
    ends: list[tuple[int, bytes | None]] = field(default_factory=list)
    segments: list[tuple[int, int, bytes | None, bool]] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class ChainResult:
    record: LayerRecord | None = None  # the truth, when the chain and the digest hold
    result: PassResult = field(default_factory=PassResult)
    problems: list[str] = field(default_factory=list)


def _inflate(data: bytes, span: Span, length: int, last: bool, inflater: Inflater) -> _Link:
    """Inflate the range from its checkpoint with Z_BLOCK until `length` bytes are out and
    a block boundary is reached (not last: where checkpoint k+1 must be) or, for the last
    span, until its gzip member ends with the range."""
    link = _Link(data=data)
    cp = span.checkpoint
    assert cp is not None
    lib = inflater
    strm = lib.new_stream(RAW_WINDOW_BITS)
    ref = ctypes.byref(strm)
    addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0

    def start(at: int) -> None:
        strm.next_in = addr + at
        strm.avail_in = len(data) - at

    try:
        at = 0
        if cp.bits:
            if not data:
                raise InputError("empty span range")
            lib.prime(ref, cp.bits, data[0] >> (8 - cp.bits))
            at = 1
        if lib.set_dictionary(ref, cp.window, len(cp.window)) != Z_OK:
            raise InputError("zlib refused the checkpoint window")
        start(at)
        buf = ctypes.create_string_buffer(OUT_CHUNK)
        produced, raw = 0, True
        while True:
            want = length - produced
            room = min(OUT_CHUNK, want) if want > 0 else 1  # one more: a span that runs on
            strm.next_out = ctypes.addressof(buf)
            strm.avail_out = room
            before = strm.avail_in
            ret = lib.inflate(ref, Z_BLOCK)
            n = room - strm.avail_out
            if n:
                link.out.append(ctypes.string_at(buf, n))
            produced += n
            if produced > length and not last:  # the last one goes on to the tar's end blocks
                raise InputError(f"inflates to more than its {length} bytes")
            if produced > length + CHAIN_MAX_TAIL:
                raise InputError(f"inflates to more than {length} + {CHAIN_MAX_TAIL} bytes")
            pos = len(data) - strm.avail_in
            if ret == Z_STREAM_END:
                if raw:
                    pos += 8  # the trailer, which raw inflate leaves unread
                if pos > len(data):
                    raise InputError("the range ends inside a gzip trailer")
                link.ends.append((len(link.out), data[pos - 8 : pos] if raw else None))
                if pos == len(data):
                    if last and produced >= length:
                        link.end = (span.c_end, 0)
                        return link
                    raise InputError(
                        f"the range ends with a gzip member after {produced} of {length} bytes"
                    )
                lib.end(ref)
                strm = lib.new_stream(GZIP_AUTO_WINDOW_BITS)
                ref = ctypes.byref(strm)
                raw = False
                start(pos)
                continue
            if ret not in (Z_OK, Z_BUF_ERROR):
                raise InputError(f"inflate from checkpoint failed ({ret})")
            dt = strm.data_type
            if not last and produced == length and dt & 128 and not dt & 64:
                link.end = (span.c_end - len(data) + pos, dt & 7)
                return link
            if not n and before == strm.avail_in:
                if strm.avail_in == 0:
                    raise InputError(f"the range ends after {produced} of {length} bytes")
                raise InputError("inflate made no progress")
    except InputError as exc:
        link.error = exc.message
        return link
    finally:
        lib.end(ref)


def _read(reader: RangeReader, spans: Sequence[Span], k: int, inflater: Inflater) -> _Link:
    span = spans[k]
    last = k == len(spans) - 1
    pieces: list[bytes] = []
    try:
        pieces.extend(_pieces(reader, span.c_start, span.c_end))
    except InputError as exc:
        return _Link(requests=len(pieces), error=exc.message)
    data = b"".join(pieces)
    length = span.u_end - span.u_start
    if span.checkpoint is None:  # an uncompressed layer: the span's bytes are the tar's
        link = _Link(data=data, out=[data if last else data[:length]], end=(span.c_end, 0))
    else:
        link = _inflate(data, span, length, last, inflater)
    link.requests = len(pieces)
    if link.error is None:  # hashed here, in parallel (hashlib releases the GIL)
        link.range_digest = "sha256:" + hashlib.sha256(data).hexdigest()
        at = 0
        for upto, trailer in link.ends:  # each member's end: its CRC-32 and size are checked
            link.segments.append((*_crc(link.out[at:upto]), trailer, True))
            at = upto
        link.segments.append((*_crc(link.out[at:]), None, False))
    return link


def _crc(pieces: list[bytes]) -> tuple[int, int]:
    crc = length = 0
    for piece in pieces:
        crc, length = crc32(piece, crc), length + len(piece)
    return crc, length


_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (zlib's crc32.c)."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table, p = [], 1 << 30
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from those of A and B (zlib's `crc32_combine`)."""
    p, k = 1 << 31, 3
    while len2:
        if len2 & 1:
            p = _multmodp(_X2N[k & 31], p)
        len2 >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


class _InOrder:
    """The spans' uncompressed bytes, in order, as a stream for the tar parser; each span is
    checked (chain, window) and hashed (layer digest, span digests) as it is reached."""

    def __init__(
        self,
        reader: RangeReader,
        spans: Sequence[Span],
        head: bytes,
        inflater: Inflater,
        out: ChainResult,
    ) -> None:
        self._links: Generator[_Link] = self._iterate(reader, spans, inflater)
        self._spans = spans
        self._out = out
        self._layer = hashlib.sha256(head)
        self._size = len(head)
        self._prev_end = len(head)
        first = spans[0].checkpoint
        self._window = first.window if first is not None else b""
        self._buf = memoryview(b"")
        self._chunks: deque[bytes] = deque()
        self._k = 0
        self._crc = self._isize = 0  # of the member being read, so far
        self.error: str | None = None  # a member's CRC-32 or size is wrong

    @staticmethod
    def _iterate(
        reader: RangeReader, spans: Sequence[Span], inflater: Inflater
    ) -> Generator[_Link]:
        with ThreadPoolExecutor(max_workers=max(1, min(LAZY_WORKERS, len(spans)))) as pool:
            ahead: deque[Future[_Link]] = deque()
            for k in range(len(spans)):
                ahead.append(pool.submit(_read, reader, spans, k, inflater))
                if len(ahead) >= REORDER:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def _next(self) -> bool:
        if self._out.problems:
            return False
        link = next(self._links, None)
        if link is None:
            return False
        k, span, res = self._k, self._spans[self._k], self._out.result
        self._k += 1
        res.fetched += len(link.data)
        res.requests += link.requests
        if link.error is not None:
            self._out.problems.append(f"span {k}: {link.error} (inflated from checkpoint {k})")
            return False
        # No SHA-256 of the uncompressed bytes: the chain proves them (they are the truth).
        res.ranges[k], res.contents[k] = link.range_digest, b""
        for crc, length, trailer, ended in link.segments:
            self._crc = crc32_combine(self._crc, crc, length)
            self._isize += length
            if ended:
                if trailer is not None and self.error is None:
                    want = (int.from_bytes(trailer[:4], "little"), trailer[4:])
                    if want != (self._crc, (self._isize & 0xFFFFFFFF).to_bytes(4, "little")):
                        self.error = (
                            f"incorrect data check (the gzip trailer of span {k} does not "
                            "match the member's bytes)"
                        )
                self._crc = self._isize = 0
        skip = self._prev_end - span.c_start  # the byte two ranges share
        self._layer.update(memoryview(link.data)[skip:])
        self._size += len(link.data) - skip
        self._prev_end = span.c_end
        if k + 1 < len(self._spans):
            self._chain(k, link, self._spans[k + 1].checkpoint)
        self._chunks.extend(link.out)
        return True

    def _chain(self, k: int, link: _Link, nxt: Checkpoint | None) -> None:
        if nxt is None:  # an uncompressed layer: spans are plain cuts
            return
        if link.end != (nxt.in_offset, nxt.bits):
            at = link.end or (0, 0)
            self._out.problems.append(
                f"span {k}: inflated from checkpoint {k}, it stops at compressed byte {at[0]} "
                f"(bits {at[1]}), not at checkpoint {k + 1} ({nxt.in_offset}, bits {nxt.bits})"
            )
            return
        tail = b"".join(_tail(link.out, WINDOW_SIZE))
        self._window = (self._window + tail)[-WINDOW_SIZE:]
        if self._window != nxt.window:
            self._out.problems.append(
                f"span {k}: the window it leaves differs from checkpoint {k + 1}'s "
                "(the checkpoint's window is not the layer's bytes before it)"
            )

    def read(self, n: int = -1) -> bytes:
        parts: list[bytes] = []
        want = n if n >= 0 else 1 << 62
        while want > 0:
            if not self._buf:
                if not self._chunks and not self._next():
                    break
                if not self._chunks:
                    continue
                self._buf = memoryview(self._chunks.popleft())
            take = self._buf[:want]
            parts.append(bytes(take))
            self._buf = self._buf[len(take) :]
            want -= len(take)
        return b"".join(parts)

    def skip(self, n: int) -> int:
        """Discard up to `n` bytes (file data: the tar parser needs only the headers)."""
        done = 0
        while done < n:
            if not self._buf:
                if not self._chunks and not self._next():
                    break
                if not self._chunks:
                    continue
                self._buf = memoryview(self._chunks.popleft())
            take = min(n - done, len(self._buf))
            self._buf = self._buf[take:]
            done += take
        return done

    def close(self) -> None:
        self._links.close()  # stops fetching ahead (a broken chain)

    def layer_digest(self) -> tuple[str, int]:
        return "sha256:" + self._layer.hexdigest(), self._size


def _tail(chunks: list[bytes], size: int) -> list[bytes]:
    out: list[bytes] = []
    for c in reversed(chunks):
        out.insert(0, c[-size:])
        size -= len(out[0])
        if size <= 0:
            break
    return out


def chain_fits(spans: Sequence[Span]) -> bool:
    """Whether every span is small enough to be held while it is read (`CHAIN_MAX_SPAN`,
    compressed and inflated): a zTOC's span sizes are not trusted to bound memory."""
    return all(
        s.c_end - s.c_start <= CHAIN_MAX_SPAN and s.u_end - s.u_start <= CHAIN_MAX_SPAN
        for s in spans
    )


def chain_pass(
    reader: RangeReader,
    spans: Sequence[Span],
    *,
    layer_digest: str,
    layer_size: int,
    inflater: Inflater,
) -> ChainResult:
    """Read every span once; the truth from those bytes, or the chain problems."""
    out = ChainResult()
    first = spans[0]
    head = reader.read_range(0, first.c_start) if first.c_start else b""
    out.result.fetched, out.result.requests = len(head), 1 if head else 0
    if first.checkpoint is not None:
        cp = first.checkpoint
        try:
            header = gzip_header_length(head)
        except InputError as exc:
            header = -1
            out.problems.append(f"bytes before span 0: {exc}")
        if (cp.in_offset, cp.bits, cp.out_offset) != (header, 0, 0) or cp.window != bytes(
            WINDOW_SIZE
        ):
            out.problems.append(
                "checkpoint 0 is not the start of the stream (just after the gzip header, "
                "nothing inflated, a zero window)"
            )
            return out
    stream = _InOrder(reader, spans, head, inflater, out)
    recorder = LayerRecorder([], set())
    error = None
    try:
        try:
            toc = read_toc(stream, on_entry=recorder.entry)  # the zTOC builder's tar parser
            if toc.end_offset != spans[-1].u_end:
                out.problems.append(
                    f"uncompressed_archive_size {spans[-1].u_end} != {toc.end_offset}, where "
                    "the layer's tar ends"
                )
        except LayerError as exc:
            error = exc.message
        while stream.skip(OUT_CHUNK):  # the rest of the spans (after the tar's end)
            pass
    finally:
        stream.close()
    if out.problems:
        return out
    digest, size = stream.layer_digest()
    if (digest, size) != (layer_digest, layer_size):
        out.problems.append(
            f"the layer read by Range requests ({size} bytes, {digest}) is not the layer "
            f"({layer_size} bytes, {layer_digest})"
        )
        return out
    files = recorder.record(layer_digest, layer_size).files
    out.record = LayerRecord(
        layer=layer_digest,
        size=layer_size,
        spans={(s.c_start, s.c_end): out.result.ranges[k] for k, s in enumerate(spans)},
        contents={(s.u_start, s.u_end): out.result.contents[k] for k, s in enumerate(spans)},
        files=files,
        error=stream.error or error,
    )
    return out

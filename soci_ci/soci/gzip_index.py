"""One pass over a gzip layer: decompressed bytes for the tar reader, checkpoints, span digests.

Checkpoints are placed exactly as upstream's `gzip_zinfo.c` (derived from zlib's `zran.c`)
places them (shared notes 1b): inflate with `Z_BLOCK`; after every call that did not end a
member, if inflate stopped at a block boundary of a non-final block and either nothing has
been produced yet or more than `span_size` bytes were produced since the last checkpoint,
record {in, out, bits, the 32 KiB window before out}. Concatenated members are read through
(`inflateReset2`), so bytes after the last member that are not gzip are an error, as upstream.

Checkpoints are 32 KiB each and kept until the zTOC is written, so their number is bounded
(`soci_ci.limits`): at most MAX_LEADING_CHECKPOINTS before the first uncompressed byte (a
run of empty gzip members or blocks would otherwise give one per ~20 compressed bytes) and
MAX_ZTOC_SPANS in all.

Span digests (notes 1c) are SHA-256 of the compressed bytes [in_i - (bits_i != 0), in_{i+1}),
the last span running to the end of the file; they are computed while the bytes stream by,
so the layer is read once and never held in memory.
"""

from __future__ import annotations

import ctypes
import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from soci_ci import limits
from soci_ci.errors import LayerError
from soci_ci.soci.zlib_binding import (
    GZIP_AUTO_WINDOW_BITS,
    WINDOW_SIZE,
    Z_BLOCK,
    Z_BUF_ERROR,
    Z_DATA_ERROR,
    Z_NEED_DICT,
    Z_OK,
    Z_STREAM_END,
    Inflater,
    Stream,
)


class LayerStream(Protocol):
    """What a layer is read from: `read(n)` (a file, a registry stream, a hashing reader);
    a `readinto` method, when there is one, is used to fill buffers without a copy."""

    def read(self, n: int, /) -> bytes: ...


INPUT_CHUNK = 1 << 20
INPUT_BUFFERS = 4
OUTPUT_SPACE = 1 << 20


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A point where inflate can restart: compressed `in`, uncompressed `out`, `bits`, window."""

    in_offset: int
    out_offset: int
    bits: int
    window: bytes


class GzipScanner:
    """Inflates a gzip stream once; serves the output as a `TarStream` (read/skip)."""

    def __init__(
        self, source: LayerStream, span_size: int, inflater: Inflater, *, hash_spans: bool = True
    ) -> None:
        self._source = source
        self._span_size = span_size
        self._hash_spans = hash_spans  # off: every span digest is "" (nothing hashed)
        self._lib = inflater
        self._strm = self._lib.new_stream(GZIP_AUTO_WINDOW_BITS)
        self._strm_ref = ctypes.byref(self._strm)
        # Input: a few reusable buffers, so the hashing thread can work on one while inflate
        # reads the next; [0, in_len) of the current one is valid, at absolute in_start.
        self._pool = [ctypes.create_string_buffer(INPUT_CHUNK) for _ in range(INPUT_BUFFERS)]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(INPUT_BUFFERS):
            self._free.put(i)
        self._in_index = -1
        self._in_addr = 0
        self._in_view = memoryview(b"")
        self._hash_jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._hash_thread = threading.Thread(
            target=_hash_worker, args=(self._hash_jobs, self._free), daemon=True
        )
        self._hash_thread.start()
        # A reader thread fills free buffers ahead of inflate (file/network reads overlap it).
        self._filled: queue.SimpleQueue[tuple[int, int, BaseException | None]] = queue.SimpleQueue()
        self._views = [memoryview(buf).cast("B") for buf in self._pool]
        self._reader = threading.Thread(
            target=_read_worker, args=(source, self._views, self._free, self._filled), daemon=True
        )
        self._reader.start()
        self._in_len = 0
        self._in_start = 0
        self._eof = False
        self._tail = b""  # the byte before in_start (a span may start there)
        # Output: WINDOW_SIZE bytes of history (zero-filled at first) then fresh output.
        self._out_cap = WINDOW_SIZE + OUTPUT_SPACE
        self._out_buf = ctypes.create_string_buffer(self._out_cap)
        self._out_addr = ctypes.addressof(self._out_buf)
        self._out_view = memoryview(self._out_buf).cast("B")
        self._wpos = WINDOW_SIZE
        self._rpos = WINDOW_SIZE
        self._strm.next_out = self._out_addr + self._wpos
        self._strm.avail_out = self._out_cap - self._wpos
        self.total_in = 0
        self.total_out = 0
        self._last = 0
        self.finished = False
        self.checkpoints: list[Checkpoint] = []
        self.span_digests: list[str] = []
        self._hasher: hashlib._Hash | None = None
        self._hashed_to = 0

    # -- input and hashing ------------------------------------------------------------
    def _feed_hash(self, upto: int) -> None:
        """Feed the current span's hasher with compressed bytes [hashed_to, upto)."""
        hasher = self._hasher
        if hasher is None or upto <= self._hashed_to:
            return
        start = self._hashed_to
        if start == self._in_start - 1:
            self._hash_jobs.put((hasher, self._tail))
            start += 1
        if upto > start:
            base = self._in_start
            self._hash_jobs.put((hasher, self._in_view[start - base : upto - base]))
        self._hashed_to = upto

    def _refill(self) -> bool:
        if self._in_len:
            end = self._in_start + self._in_len
            self._feed_hash(end - 1)
            self._tail = bytes(self._in_view[self._in_len - 1 : self._in_len])
            self._in_start = end
            self._in_len = 0
        if self._in_index >= 0:
            self._hash_jobs.put((None, self._in_index))  # buffer free once hashed
            self._in_index = -1
        if self._eof:
            return False
        self._in_index, n, error = self._filled.get()
        if error is not None:
            self._eof = True
            raise error
        self._in_addr = ctypes.addressof(self._pool[self._in_index])
        self._in_view = self._views[self._in_index]
        if n == 0:
            self._eof = True
            return False
        self._in_len = n
        self._strm.next_in = self._in_addr
        self._strm.avail_in = n
        return True

    # -- inflate ------------------------------------------------------------------------
    def _step(self) -> None:
        """One inflate call (stops at the next block boundary or when output space is full)."""
        strm = self._strm
        if strm.avail_in == 0 and not self._refill():
            if self.total_out == 0 and self.total_in == 0:
                raise LayerError("empty layer: not a gzip stream (no data)")
            raise LayerError(
                f"truncated gzip stream: the layer ends at byte {self.total_in} "
                "before the end of the compressed data"
            )
        if strm.avail_out == 0:
            self._compact()
        avail_in = strm.avail_in
        avail_out = strm.avail_out
        ret = self._lib.inflate(self._strm_ref, Z_BLOCK)
        consumed = avail_in - strm.avail_in
        produced = avail_out - strm.avail_out
        self.total_in += consumed
        self.total_out += produced
        self._wpos += produced
        if ret == Z_STREAM_END:
            self._member_end()
            return
        if ret == Z_NEED_DICT or ret not in (Z_OK, Z_BUF_ERROR):
            code = Z_DATA_ERROR if ret == Z_NEED_DICT else ret
            raise LayerError(
                f"could not generate gzip zinfo. gzip error: {code} "
                f"(corrupt or non-gzip data at compressed byte {self.total_in}: {_zmsg(strm)})"
            )
        if ret == Z_BUF_ERROR and not consumed and not produced and strm.avail_in:
            raise LayerError(f"inflate made no progress at compressed byte {self.total_in}")
        data_type = strm.data_type
        if (
            data_type & 128
            and not data_type & 64
            and (self.total_out == 0 or self.total_out - self._last > self._span_size)
        ):
            self._add_checkpoint(data_type & 7)

    def _member_end(self) -> None:
        """A gzip member ended: continue with the next one, or finish at end of file."""
        strm = self._strm
        if strm.avail_in == 0 and not self._refill():
            self.finished = True
            return
        self._lib.reset2(self._strm_ref, GZIP_AUTO_WINDOW_BITS)

    def _add_checkpoint(self, bits: int) -> None:
        in_offset = self.total_in
        count = len(self.checkpoints)
        if count >= limits.MAX_ZTOC_SPANS or (
            self.total_out == 0 and count >= limits.MAX_LEADING_CHECKPOINTS
        ):
            raise _too_many_checkpoints(count, in_offset, leading=self.total_out == 0)
        window = self._out_view[self._wpos - WINDOW_SIZE : self._wpos].tobytes()
        self.checkpoints.append(Checkpoint(in_offset, self.total_out, bits, window))
        self._last = self.total_out
        if not self._hash_spans:
            self.span_digests.append("")
            return
        if self._hasher is not None:
            self._feed_hash(in_offset)
            self._hash_jobs.put((self._hasher, self.span_digests))
        self._hasher = hashlib.sha256()
        self._hashed_to = in_offset - 1 if bits else in_offset

    def _compact(self) -> None:
        """Keep the last 32 KiB of output (the window) and anything unread; reuse the rest."""
        keep_from = min(self._rpos, self._wpos - WINDOW_SIZE)
        kept = self._wpos - keep_from
        ctypes.memmove(self._out_addr, self._out_addr + keep_from, kept)
        self._rpos -= keep_from
        self._wpos = kept
        self._strm.next_out = self._out_addr + self._wpos
        self._strm.avail_out = self._out_cap - self._wpos

    # -- TarStream ----------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        available = self._wpos - self._rpos
        if available >= n:
            start = self._rpos
            self._rpos = start + n
            return self._out_view[start : start + n].tobytes()
        out = bytearray()
        while len(out) < n:
            if self._rpos == self._wpos:
                if self.finished:
                    break
                self._step()
                continue
            take = min(n - len(out), self._wpos - self._rpos)
            out += self._out_view[self._rpos : self._rpos + take]
            self._rpos += take
        return bytes(out)

    def skip(self, n: int, sink: Callable[[memoryview], object] | None = None) -> int:
        """Discard up to `n` bytes (shown to `sink` first, without a copy, if given)."""
        done = 0
        while done < n:
            if self._rpos == self._wpos:
                if self.finished:
                    break
                self._step()
                continue
            take = min(n - done, self._wpos - self._rpos)
            if sink is not None:
                sink(self._out_view[self._rpos : self._rpos + take])
            self._rpos += take
            done += take
        return done

    def finish(self) -> None:
        """Inflate whatever the tar reader did not need; validate; close the last span."""
        while not self.finished:
            self._rpos = self._wpos
            self._step()
        while self._refill():
            pass
        if self._hasher is not None:
            self._feed_hash(self._in_start + self._in_len)
            self._hash_jobs.put((self._hasher, self.span_digests))
            self._hasher = None
        self.close()

    @property
    def compressed_size(self) -> int:
        return self._in_start + self._in_len

    def close(self) -> None:
        self._free.put(-1)  # stops the reader once it asks for another buffer
        if self._hash_thread.is_alive():
            self._hash_jobs.put(None)
            self._hash_thread.join()
        if self._strm.state:
            self._lib.end(self._strm_ref)
            self._strm.state = None


def _too_many_checkpoints(count: int, in_offset: int, *, leading: bool) -> LayerError:
    if leading:
        return LayerError(
            f"the layer has more than {count} gzip members or empty deflate blocks before its "
            f"first byte of data (at compressed byte {in_offset}); its zTOC would need one "
            "32 KiB checkpoint for each, and the snapshotter rejects such a zTOC anyway",
            hint="recompress the layer as one gzip stream",
        )
    return LayerError(
        f"the layer needs more than {count} gzip checkpoints (at compressed byte {in_offset}); "
        f"the limit is {limits.MAX_ZTOC_SPANS} (32 KiB each)",
        hint="use a larger --span-size for very large layers",
    )


# A hashing job: (hasher, bytes) feeds bytes; (hasher, list) appends the final digest to the
# list; (None, buffer index) gives an input buffer back once everything before it is hashed.
_Job = tuple[Any, Any]


def _hash_worker(jobs: queue.SimpleQueue[_Job | None], free: queue.SimpleQueue[int]) -> None:
    """Hash compressed bytes off the inflate thread (hashlib releases the GIL)."""
    while (job := jobs.get()) is not None:
        hasher, payload = job
        if hasher is None:
            free.put(payload)
        elif isinstance(payload, list):
            payload.append("sha256:" + hasher.hexdigest())
        else:
            hasher.update(payload)


def _read_worker(
    source: LayerStream,
    views: list[memoryview],
    free: queue.SimpleQueue[int],
    filled: queue.SimpleQueue[tuple[int, int, BaseException | None]],
) -> None:
    """Read the layer into free buffers, in order, until end of file or an error."""
    while True:
        index = free.get()
        if index < 0:
            return
        try:
            n = _read_into(source, views[index])
        except BaseException as exc:  # handed to the inflating thread, raised there
            filled.put((index, 0, exc))
            return
        filled.put((index, n, None))
        if n == 0:
            return


def _read_into(source: LayerStream, view: memoryview) -> int:
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        total = 0
        while total < len(view):
            n = readinto(view[total:])
            if not n:
                break
            total += n
        return total
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


def _zmsg(strm: Stream) -> str:
    msg = strm.msg
    return msg.decode("ascii", "replace") if msg else "invalid data"


def zinfo_pieces(checkpoints: list[Checkpoint], span_size: int) -> list[bytes]:
    """The gzip zinfo blob: int32 N, int64 span, then N × (in, out, bits, window), as pieces
    that share the checkpoint windows (no copy)."""
    parts = [len(checkpoints).to_bytes(4, "little", signed=True)]
    parts.append(span_size.to_bytes(8, "little", signed=True))
    for cp in checkpoints:
        parts.append(cp.in_offset.to_bytes(8, "little", signed=True))
        parts.append(cp.out_offset.to_bytes(8, "little", signed=True))
        parts.append(bytes((cp.bits,)))
        parts.append(cp.window)
    return parts

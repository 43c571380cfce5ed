"""Random access into a gzip layer from a checkpoint, as a lazy loader does it.

Given the compressed bytes of the spans that hold a file, as they arrive (starting one byte
early when the checkpoint's `bits` are non-zero), inflate restarts from the checkpoint: raw
deflate, the `bits` leftover bits primed, the 32 KiB window set as dictionary. A member
boundary inside the range is crossed (trailer skipped, next member's header parsed).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator

from soci_ci.errors import InputError
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.zlib_binding import (
    GZIP_AUTO_WINDOW_BITS,
    RAW_WINDOW_BITS,
    Z_BUF_ERROR,
    Z_NO_FLUSH,
    Z_OK,
    Z_STREAM_END,
    Inflater,
)

OUT_CHUNK = 1 << 20


def inflate_from_checkpoint(
    chunks: Iterator[bytes],
    checkpoint: Checkpoint,
    length: int,
    sink: Callable[[memoryview], object],
    inflater: Inflater,
) -> None:
    """Inflate `length` uncompressed bytes from the checkpoint's `out`, handing them to `sink`.

    `chunks` yields the compressed bytes in order, starting at the checkpoint's `in` - 1 when
    `bits` != 0, else at `in`; they are inflated as they arrive into one reused output
    buffer, so memory stays at one chunk and one buffer whatever the sizes (the view passed
    to `sink` is only valid during the call). Inflate reads each chunk in place (no copy).
    """
    lib = inflater
    strm = lib.new_stream(RAW_WINDOW_BITS)
    ref = ctypes.byref(strm)
    keep = [b""]  # the bytes inflate reads from, kept alive while it does

    def set_input(data: bytes) -> None:
        data = bytes(data)  # immutable and owned: inflate reads its buffer directly
        keep[0] = data
        strm.next_in = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        strm.avail_in = len(data)

    def unread() -> bytes:
        data = keep[0]
        return data[len(data) - strm.avail_in :]

    try:
        first = next(chunks, b"")
        if checkpoint.bits:
            if not first:
                raise InputError("empty span range")
            lib.prime(ref, checkpoint.bits, first[0] >> (8 - checkpoint.bits))
            first = first[1:]
        if lib.set_dictionary(ref, checkpoint.window, len(checkpoint.window)) != Z_OK:
            raise InputError("zlib refused the checkpoint window")
        set_input(first)
        out = ctypes.create_string_buffer(OUT_CHUNK)
        view = memoryview(out).cast("B")
        produced = 0
        output_full = False
        raw = True  # the checkpoint's member is inflated raw; later members as gzip
        while produced < length:
            if strm.avail_in == 0 and not output_full:
                chunk = next(chunks, b"")
                if not chunk:
                    raise InputError("span range ended before the file's last byte")
                set_input(chunk)
            strm.next_out = ctypes.addressof(out)
            strm.avail_out = OUT_CHUNK
            ret = lib.inflate(ref, Z_NO_FLUSH)
            n = OUT_CHUNK - strm.avail_out
            output_full = strm.avail_out == 0
            take = min(n, length - produced)
            if take:
                sink(view[:take])
            produced += n
            if ret == Z_STREAM_END:
                if produced >= length:
                    break
                # The member ended inside the range: the next one follows its 8-byte trailer,
                # which raw inflate (the checkpoint's member) leaves unread and gzip mode (the
                # members after it) checks and consumes itself.
                rest = unread()
                if raw:
                    while len(rest) < 8 and (chunk := next(chunks, b"")):
                        rest += chunk
                    rest = rest[8:]
                lib.end(ref)
                strm = lib.new_stream(GZIP_AUTO_WINDOW_BITS)
                ref = ctypes.byref(strm)
                raw = False
                set_input(rest)
                output_full = False
                continue
            if ret == Z_BUF_ERROR and n == 0 and strm.avail_in == 0:
                continue  # needs the next chunk
            if ret != Z_OK:
                raise InputError(f"inflate from checkpoint failed ({ret})")
    finally:
        lib.end(ref)


def gzip_header_length(data: bytes) -> int:
    """Length of the gzip member header at the start of `data` (as Go's gzip.NewReader)."""
    if len(data) < 10 or data[0:2] != b"\x1f\x8b" or data[2] != 8:
        raise InputError("layer does not start with a gzip header")
    flags = data[3]
    at = 10
    if flags & 4:
        if len(data) < at + 2:
            raise InputError("gzip header truncated (FEXTRA)")
        at += 2 + int.from_bytes(data[at : at + 2], "little")
    for bit in (8, 16):
        if flags & bit:
            end = data.find(b"\x00", at)
            if end < 0:
                raise InputError("gzip header truncated (FNAME/FCOMMENT)")
            at = end + 1
    if flags & 2:
        at += 2
    if at > len(data):
        raise InputError("gzip header truncated")
    return at

"""Random access into a gzip layer from a checkpoint, as a lazy loader does it.

Given the compressed bytes of the spans that hold a file (starting one byte early when the
checkpoint's `bits` are non-zero), inflate restarts from the checkpoint: raw deflate, the
`bits` leftover bits primed, the 32 KiB window set as dictionary. A member boundary inside
the range is crossed (trailer skipped, next member's header parsed).
"""

from __future__ import annotations

import ctypes

from soci_ci.errors import InputError
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.zlib_binding import (
    GZIP_AUTO_WINDOW_BITS,
    RAW_WINDOW_BITS,
    Z_NO_FLUSH,
    Z_OK,
    Z_STREAM_END,
    inflater,
)

OUT_CHUNK = 1 << 18


def inflate_from_checkpoint(
    compressed: bytes, checkpoint: Checkpoint, skip: int, length: int
) -> bytes:
    """Uncompressed bytes [out+skip, out+skip+length) from `compressed` (which starts at the
    checkpoint's `in` - 1 when `bits` != 0, else at `in`)."""
    lib = inflater()
    strm = lib.new_stream(RAW_WINDOW_BITS)
    ref = ctypes.byref(strm)
    data = compressed
    try:
        if checkpoint.bits:
            if not data:
                raise InputError("empty span range")
            lib.prime(ref, checkpoint.bits, data[0] >> (8 - checkpoint.bits))
            data = data[1:]
        if lib.set_dictionary(ref, checkpoint.window, len(checkpoint.window)) != Z_OK:
            raise InputError("zlib refused the checkpoint window")
        in_buf = ctypes.create_string_buffer(data, len(data))
        strm.next_in = ctypes.addressof(in_buf)
        strm.avail_in = len(data)
        out = ctypes.create_string_buffer(OUT_CHUNK)
        produced = 0
        result = bytearray()
        want_end = skip + length
        while produced < want_end:
            strm.next_out = ctypes.addressof(out)
            strm.avail_out = OUT_CHUNK
            ret = lib.inflate(ref, Z_NO_FLUSH)
            n = OUT_CHUNK - strm.avail_out
            lo = max(skip - produced, 0)
            hi = min(want_end - produced, n)
            if hi > lo:
                result += out.raw[lo:hi]
            produced += n
            if ret == Z_STREAM_END:
                if produced >= want_end:
                    break
                # The member ended inside the range: skip its 8-byte trailer, next member.
                consumed = len(data) - strm.avail_in
                rest = data[consumed + 8 :]
                lib.end(ref)
                strm = lib.new_stream(GZIP_AUTO_WINDOW_BITS)
                ref = ctypes.byref(strm)
                data = rest
                in_buf = ctypes.create_string_buffer(data, len(data))
                strm.next_in = ctypes.addressof(in_buf)
                strm.avail_in = len(data)
                continue
            if ret != Z_OK:
                raise InputError(f"inflate from checkpoint failed ({ret})")
            if n == 0 and strm.avail_in == 0:
                raise InputError("span range ended before the file's last byte")
        return bytes(result)
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

"""A small ctypes binding of the system zlib (`libz.so.1`).

Python's `zlib` module cannot stop inflating at deflate block boundaries (`Z_BLOCK`) nor report
`data_type`, and cannot prime bits or set a raw dictionary for random access from a checkpoint.
Those four calls are all soci needs, so they are bound here, once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

from soci_ci.errors import SociCiError

Z_OK = 0
Z_STREAM_END = 1
Z_NEED_DICT = 2
Z_BUF_ERROR = -5
Z_DATA_ERROR = -3
Z_MEM_ERROR = -4
Z_BLOCK = 5
Z_NO_FLUSH = 0

WINDOW_SIZE = 32768
GZIP_AUTO_WINDOW_BITS = 47  # 15 + 32: gzip or zlib header, detected
RAW_WINDOW_BITS = -15


class ZStream(ctypes.Structure):
    """`z_stream` on LP64 Linux."""

    _fields_ = [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


class ZlibUnavailable(SociCiError):
    default_hint = "install the system zlib (Debian: zlib1g), which every Linux distribution ships"


@cache
def libz() -> ctypes.CDLL:
    name = ctypes.util.find_library("z") or "libz.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise ZlibUnavailable(f"cannot load the system zlib ({name}): {exc}") from None
    p_stream = ctypes.POINTER(ZStream)
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.inflateInit2_.argtypes = [p_stream, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.inflateInit2_.restype = ctypes.c_int
    lib.inflate.argtypes = [p_stream, ctypes.c_int]
    lib.inflate.restype = ctypes.c_int
    lib.inflateEnd.argtypes = [p_stream]
    lib.inflateEnd.restype = ctypes.c_int
    lib.inflateReset2.argtypes = [p_stream, ctypes.c_int]
    lib.inflateReset2.restype = ctypes.c_int
    lib.inflatePrime.argtypes = [p_stream, ctypes.c_int, ctypes.c_int]
    lib.inflatePrime.restype = ctypes.c_int
    lib.inflateSetDictionary.argtypes = [p_stream, ctypes.c_char_p, ctypes.c_uint]
    lib.inflateSetDictionary.restype = ctypes.c_int
    return lib


def inflate_init(stream: ZStream, window_bits: int) -> None:
    lib = libz()
    ret = lib.inflateInit2_(
        ctypes.byref(stream), window_bits, lib.zlibVersion(), ctypes.sizeof(ZStream)
    )
    if ret != Z_OK:
        raise ZlibUnavailable(f"zlib inflateInit2 failed ({ret})")

"""A small ctypes binding of inflate: zlib-ng (PyPI `zlib-ng`) or the system zlib (`libz.so.1`).

Python's `zlib` module cannot stop inflating at deflate block boundaries (`Z_BLOCK`) nor report
`data_type`, and cannot prime bits or set a raw dictionary for random access from a checkpoint.
Those few calls are all soci needs, so they are bound here, once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import zlib
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Any

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


def _stream_fields(size: type[Any], adler: type[Any]) -> list[tuple[str, type[Any]]]:
    """The fields of zlib's `z_stream` and zlib-ng's `zng_stream`, which differ in two types."""
    return [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint32),
        ("total_in", size),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint32),
        ("total_out", size),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", adler),
        ("reserved", ctypes.c_ulong),
    ]


class ZStream(ctypes.Structure):
    """`z_stream` on LP64 Linux (zlib): sizes and `adler` are `unsigned long`."""

    _fields_ = _stream_fields(ctypes.c_ulong, ctypes.c_ulong)


class ZngStream(ctypes.Structure):
    """`zng_stream` (zlib-ng's native API): sizes are `size_t`, `adler` is 32-bit."""

    _fields_ = _stream_fields(ctypes.c_size_t, ctypes.c_uint32)


class ZlibUnavailable(SociCiError):
    default_hint = "install the system zlib (Debian: zlib1g), which every Linux distribution ships"


Stream = ZStream | ZngStream


class Inflater:
    """The inflate calls of one zlib implementation: zlib-ng when present, else the system zlib.

    Both implement the same inflate state machine (zlib-ng's inflate is zlib's, with faster
    decoding loops), so `Z_BLOCK` stops, `data_type` bits and output are the same; the
    vector tests run with both. zlib-ng inflates about twice as fast. It comes from the PyPI
    package `zlib-ng`, whose extension exports zlib-ng's C API (`zng_*`); its Python API,
    like the `zlib` module's, cannot stop at block boundaries, hence ctypes.
    """

    def __init__(self, lib: ctypes.CDLL, *, prefix: str, name: str, stream: type[Stream]) -> None:
        self.name = name
        self.stream_type = stream
        p_stream = ctypes.POINTER(stream)
        fn = ctypes.c_int

        def bind(symbol: str, *args: Any) -> Any:
            f = getattr(lib, prefix + symbol)
            f.argtypes = [p_stream, *args]
            f.restype = fn
            return f

        self._init2 = (
            bind("inflateInit2_", ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
            if prefix == ""
            else bind("inflateInit2", ctypes.c_int)
        )
        self._version = lib.zlibVersion() if prefix == "" else b""
        self.inflate = bind("inflate", ctypes.c_int)
        self.end = bind("inflateEnd")
        self.reset2 = bind("inflateReset2", ctypes.c_int)
        self.prime = bind("inflatePrime", ctypes.c_int, ctypes.c_int)
        self.set_dictionary = bind("inflateSetDictionary", ctypes.c_char_p, ctypes.c_uint)

    def new_stream(self, window_bits: int) -> Stream:
        stream = self.stream_type()
        ref = ctypes.byref(stream)
        if self._version:
            ret = self._init2(ref, window_bits, self._version, ctypes.sizeof(stream))
        else:
            ret = self._init2(ref, window_bits)
        if ret != Z_OK:
            raise ZlibUnavailable(f"{self.name}: inflateInit2 failed ({ret})")
        return stream


class InflateBackend(StrEnum):
    """Which inflate implementation to use: the CLI takes it from SOCI_CI_INFLATE and hands
    it down in the step options; the format code takes the loaded `Inflater` as an argument."""

    AUTO = "auto"  # zlib-ng if usable, else the system zlib
    ZLIB_NG = "zlib-ng"
    ZLIB = "zlib"


@cache
def load_inflater(backend: InflateBackend | str = InflateBackend.AUTO) -> Inflater:
    """The implementation `backend` names, loaded once per process (the library handles are
    cached; the choice is the caller's, made per call)."""
    backend = InflateBackend(backend)
    if backend in (InflateBackend.AUTO, InflateBackend.ZLIB_NG):
        found = _zlib_ng()
        if found is not None:
            return found
        if backend is InflateBackend.ZLIB_NG:
            raise ZlibUnavailable(
                "zlib-ng requested but not usable: install the PyPI package zlib-ng"
            )
    return _system_zlib()


def _zlib_ng() -> Inflater | None:
    try:
        from zlib_ng import zlib_ng  # noqa: PLC0415 - optional, loaded once

        lib = ctypes.CDLL(zlib_ng.__file__)
        lib.zlibng_version.restype = ctypes.c_char_p
        version = lib.zlibng_version().decode()
        if not version.startswith("2."):  # ZngStream is zlib-ng 2's layout
            return None
        return Inflater(lib, prefix="zng_", name=f"zlib-ng {version}", stream=ZngStream)
    except (ImportError, OSError, AttributeError):
        return None


def _system_zlib() -> Inflater:
    name = ctypes.util.find_library("z") or "libz.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise ZlibUnavailable(f"cannot load the system zlib ({name}): {exc}") from None
    lib.zlibVersion.restype = ctypes.c_char_p
    return Inflater(lib, prefix="", name=f"zlib {lib.zlibVersion().decode()}", stream=ZStream)


def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32 as zlib computes it: zlib-ng's (about 10 GB/s here), else Python's `zlib`."""
    return _crc32()(data, value)


@cache
def _crc32() -> Callable[[bytes | bytearray | memoryview, int], int]:
    try:
        from zlib_ng import zlib_ng  # noqa: PLC0415 - optional, loaded once

        return zlib_ng.crc32
    except ImportError:
        return zlib.crc32

"""Tar header fields as Go's `archive/tar` reads them: numbers, checksums, PAX records, times.

Split from `tar_toc` (which walks the archive); everything here is pure and per field.
"""

from __future__ import annotations

import functools
import re
import struct
from zlib import adler32 as _adler32

# Header formats, as Go's getFormat guesses them.
_FORMAT_V7 = 1
_FORMAT_USTAR_PAX = 2
_FORMAT_GNU = 3
_FORMAT_STAR = 4

_MAGIC_USTAR = b"ustar\x00"
_MAGIC_GNU = b"ustar "
_VERSION_GNU = b" \x00"
_TRAILER_STAR = b"tar\x00"

# name mode uid gid size mtime chksum typeflag linkname magic version uname gname devmajor
# devminor prefix: the USTAR header fields, one C call.
_USTAR = struct.Struct("100s8s8s8s12s12s8sB100s6s2s32s32s8s8s155s")
_DECIMAL = re.compile(rb"[+-]?[0-9]+")
_OCTAL_DIGITS = b"01234567"
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_NANOS = 1_000_000_000


class _HeaderError(Exception):
    """Go's ErrHeader; turned into a LayerError with the entry position by the caller."""


def _cstring(b: bytes) -> bytes:
    i = b.find(b"\x00")
    return b if i < 0 else b[:i]


_PLAIN_OCTAL = re.compile(rb"[ \x00]*([0-7]*)[ \x00]*")


def _parse_octal(b: bytes) -> int:
    plain = _PLAIN_OCTAL.fullmatch(b)
    if plain is not None:  # the common case: digits padded with spaces/NULs
        digits = plain.group(1)
        if not digits:
            return 0
        if len(digits) <= 21:
            return int(digits, 8)
    b = _cstring(b.strip(b" \x00"))
    if not b:
        return 0
    if b.lstrip(_OCTAL_DIGITS):
        raise _HeaderError("invalid octal number")
    x = int(b, 8)
    if x >> 64:
        raise _HeaderError("octal number out of range")
    return x - (1 << 64) if x >> 63 else x


_OCTAL_OR_PAD = b"01234567 \x00"


def _parse_numeric(b: bytes) -> int:
    if not b.translate(None, _OCTAL_OR_PAD):  # fast path: octal digits, spaces, NULs only
        digits = b.strip(b" \x00")
        cut = digits.find(b"\x00")
        if cut >= 0:
            digits = digits[:cut]
        if not digits:
            return 0
        if b" " not in digits and len(digits) <= 21:
            return int(digits, 8)
    if b and b[0] & 0x80:
        inv = 0xFF if b[0] & 0x40 else 0
        x = 0
        for i, c in enumerate(b):
            c ^= inv
            if i == 0:
                c &= 0x7F
            if x >> 56:
                raise _HeaderError("base-256 number out of range")
            x = (x << 8) | c
        if x >> 63:
            raise _HeaderError("base-256 number out of range")
        return ~x if inv else x
    return _parse_octal(b)


_NUMERIC_CACHE: dict[bytes, int] = {}


def _cached_numeric(field: bytes) -> int:
    """Numeric fields repeat (mode, ids, mtimes): parse each distinct value once."""
    value = _NUMERIC_CACHE.get(field)
    if value is None:
        value = _parse_numeric(field)
        if len(_NUMERIC_CACHE) < 65536:
            _NUMERIC_CACHE[field] = value
    return value


def _header_format(blk: bytes) -> int:
    try:
        value = _parse_octal(blk[148:156])
    except _HeaderError:
        return 0
    # sum(blk), fast: adler32's low half is 1 + the byte sum mod 65521, exact for 256 bytes.
    unsigned = (_adler32(blk[:256]) & 0xFFFF) + (_adler32(blk[256:]) & 0xFFFF) - 2
    unsigned += 8 * 0x20 - sum(blk[148:156])
    if value != unsigned:
        high = sum(1 for c in blk[:148] if c & 0x80) + sum(1 for c in blk[156:] if c & 0x80)
        if value != unsigned - 256 * high:
            return 0
    magic = blk[257:263]
    if magic == _MAGIC_USTAR:
        return _FORMAT_STAR if blk[508:512] == _TRAILER_STAR else _FORMAT_USTAR_PAX
    if magic == _MAGIC_GNU and blk[263:265] == _VERSION_GNU:
        return _FORMAT_GNU
    return _FORMAT_V7


def _parse_go_int(value: bytes) -> int:
    """strconv.ParseInt(v, 10, 64)."""
    if not _DECIMAL.fullmatch(value):
        raise _HeaderError("invalid PAX number")
    if len(value.lstrip(b"+-").lstrip(b"0")) > 19:  # before int(): no huge conversions
        raise _HeaderError("PAX number out of range")
    x = int(value)
    if not _INT64_MIN <= x <= _INT64_MAX:
        raise _HeaderError("PAX number out of range")
    return x


def _parse_pax_time(value: bytes) -> int:
    """PAX time → nanoseconds since the epoch (Go parsePAXTime)."""
    secs_s, _, frac = value.partition(b".")
    secs = _parse_go_int(secs_s)
    if not frac:
        return secs * _NANOS
    if frac.strip(b"0123456789"):
        raise _HeaderError("invalid PAX time")
    nanos = int(frac[:9].ljust(9, b"0"))
    if secs_s.startswith(b"-"):
        return secs * _NANOS - nanos
    return secs * _NANOS + nanos


def _parse_pax_records(data: bytes) -> dict[bytes, bytes]:
    """Go parsePAX: `%d key=value\\n` records; later duplicates win.

    Walks `data` by index (no copies of the rest), so it is linear in the header's size.
    """
    records: dict[bytes, bytes] = {}
    sparse: list[bytes] = []
    pos = 0
    end = len(data)
    find = data.find
    while pos < end:
        space = find(b" ", pos)
        if space < 0:
            raise _HeaderError("invalid PAX record length")
        n = _pax_length(data[pos:space])
        if n < 5 or n > end - pos:
            raise _HeaderError("invalid PAX record length")
        n -= space - pos + 1  # from an index in the record to one after the space
        if n <= 0:
            raise _HeaderError("invalid PAX record length")
        start = space + 1
        nl_at = start + n - 1
        if data[nl_at : nl_at + 1] != b"\n":
            raise _HeaderError("PAX record without newline")
        record = data[start:nl_at]
        pos = nl_at + 1
        key, eq, value = record.partition(b"=")
        if not eq or not key:
            raise _HeaderError("invalid PAX record key")
        if key in (b"path", b"linkpath", b"uname", b"gname"):
            if b"\x00" in value:
                raise _HeaderError("NUL in PAX value")
        elif b"\x00" in key:
            raise _HeaderError("NUL in PAX key")
        if key in (b"GNU.sparse.offset", b"GNU.sparse.numbytes"):
            expect = b"GNU.sparse.offset" if len(sparse) % 2 == 0 else b"GNU.sparse.numbytes"
            if key != expect or b"," in value:
                raise _HeaderError("invalid GNU sparse PAX record")
            sparse.append(value)
        else:
            records[key] = value
    if sparse:
        records[b"GNU.sparse.map"] = b",".join(sparse)
    return records


def _pax_length(text: bytes) -> int:
    """A PAX record's length field, as Go's strconv.ParseInt(s, 10, 0); -1 when invalid."""
    if not _DECIMAL.fullmatch(text):
        return -1
    digits = text.lstrip(b"+-").lstrip(b"0")
    if len(digits) > 19:  # overflows int64 (and int() on huge strings is slow or refused)
        return -1
    return int(text)


def _days_to_civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 → (year, month, day), proleptic Gregorian, any year."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


@functools.lru_cache(maxsize=4096)
def _civil_date(days: int) -> bytes:
    """b"YYYY-MM-DD" of a day since the epoch; b"" outside Go's MarshalText range."""
    year, month, day = _days_to_civil(days)
    if not 0 <= year <= 9999:
        return b""
    return b"%04d-%02d-%02d" % (year, month, day)


def format_mod_time(nanos: int) -> bytes:
    """Go `time.Unix(...).UTC().MarshalText()`: RFC 3339 with trimmed nanoseconds.

    Years outside 0..9999 make Go's MarshalText fail; soci then stores an empty string.
    """
    secs, frac = divmod(nanos, _NANOS)
    days, rem = divmod(secs, 86400)
    date = _civil_date(days)
    if not date:
        return b""
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    if frac:
        digits = b"%09d" % frac
        return b"%sT%02d:%02d:%02d.%sZ" % (date, hh, mm, ss, digits.rstrip(b"0"))
    return b"%sT%02d:%02d:%02dZ" % (date, hh, mm, ss)

"""Declarative test layers: tar entries written byte by byte, including what tarfile refuses.

`Entry` describes one header; `build_tar` lays the headers, PAX/GNU meta entries and data out
exactly, so tests know every offset independently of the code under test.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field

BLOCK = 512


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\x00"


def base256(value: int, width: int) -> bytes:
    """GNU base-256 encoding (top bit set), two's complement for negatives."""
    raw = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:]


@dataclass(kw_only=True)
class Entry:
    name: bytes
    typeflag: bytes = b"0"
    data: bytes = b""
    size: int | None = None  # header size field (default len(data))
    mode: int = 0o644
    uid: int = 1000
    gid: int = 1000
    mtime: int = 1700000000
    linkname: bytes = b""
    uname: bytes = b"user"
    gname: bytes = b"group"
    devmajor: int = 0
    devminor: int = 0
    pax: dict[bytes, bytes] = field(default_factory=dict)
    gnu_long_name: bytes | None = None
    gnu_long_link: bytes | None = None
    magic: bytes = b"ustar\x0000"  # b"ustar  \x00" for GNU, b"" for V7
    raw_fields: dict[str, bytes] = field(default_factory=dict)  # e.g. {"uid": base256(...)}
    bad_checksum: bool = False
    prefix: bytes = b""


def header(
    e: Entry, *, name: bytes | None = None, typeflag: bytes | None = None, size: int | None = None
) -> bytes:
    blk = bytearray(BLOCK)
    fields = {
        "name": (0, 100, (name if name is not None else e.name)[:100]),
        "mode": (100, 8, _octal(e.mode, 8)),
        "uid": (108, 8, _octal(e.uid, 8)),
        "gid": (116, 8, _octal(e.gid, 8)),
        "size": (
            124,
            12,
            _octal(
                size if size is not None else (e.size if e.size is not None else len(e.data)), 12
            ),
        ),
        "mtime": (136, 12, _octal(e.mtime, 12)),
        "linkname": (157, 100, e.linkname[:100]),
    }
    for key, value in e.raw_fields.items():
        off, width, _ = fields.get(key, (0, 0, b""))
        fields[key] = (off, width, value)
    for off, width, value in fields.values():
        blk[off : off + len(value[:width])] = value[:width]
    blk[156:157] = typeflag if typeflag is not None else e.typeflag
    if e.magic:
        blk[257 : 257 + len(e.magic)] = e.magic
        blk[265 : 265 + len(e.uname)] = e.uname
        blk[297 : 297 + len(e.gname)] = e.gname
        blk[329:337] = _octal(e.devmajor, 8)
        blk[337:345] = _octal(e.devminor, 8)
        blk[345 : 345 + len(e.prefix)] = e.prefix
    blk[148:156] = b" " * 8
    checksum = sum(blk) + (1 if e.bad_checksum else 0)
    blk[148:156] = f"{checksum:06o}".encode() + b"\x00 "
    return bytes(blk)


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def pax_records(records: dict[bytes, bytes]) -> bytes:
    out = b""
    for key, value in records.items():
        body = b" " + key + b"=" + value + b"\n"
        n = len(body) + 1
        while len(str(n)) + len(body) != n:
            n = len(str(n)) + len(body)
        out += str(n).encode() + body
    return out


@dataclass(frozen=True, kw_only=True)
class Built:
    data: bytes
    offsets: list[int]  # data offset of each entry (what the TOC must record)
    end: int  # offset after the end-of-archive marker


def build_tar(entries: list[Entry], *, end_blocks: int = 2, record_pad: int = 0) -> Built:
    out = bytearray()
    offsets = []
    for e in entries:
        if e.pax:
            body = pax_records(e.pax)
            out += header(
                Entry(name=b"PaxHeaders/x", magic=b"ustar\x0000"), typeflag=b"x", size=len(body)
            )
            out += _pad(body)
        if e.gnu_long_name is not None:
            body = e.gnu_long_name + b"\x00"
            out += header(
                Entry(name=b"././@LongLink", magic=b"ustar  \x00"), typeflag=b"L", size=len(body)
            )
            out += _pad(body)
        if e.gnu_long_link is not None:
            body = e.gnu_long_link + b"\x00"
            out += header(
                Entry(name=b"././@LongLink", magic=b"ustar  \x00"), typeflag=b"K", size=len(body)
            )
            out += _pad(body)
        out += header(e)
        offsets.append(len(out))
        out += _pad(e.data)
    out += bytes(BLOCK * end_blocks)
    end = len(out)
    out += bytes(record_pad)
    return Built(data=bytes(out), offsets=offsets, end=end)


def gz(data: bytes, *, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def gz_members(data: bytes, parts: int) -> bytes:
    step = max(1, len(data) // parts)
    return b"".join(gz(data[i : i + step]) for i in range(0, len(data), step))


def zlib_stream(data: bytes) -> bytes:
    return zlib.compress(data, 6)

"""The table of contents of a tar stream, read with Go `archive/tar` rules.

The official soci tool reads layers with Go's `archive/tar` and records, per entry, the
header fields and the offset of the entry's data in the uncompressed stream
(shared notes 1a, "How tar headers map to FileMetadata"). Python's `tarfile` differs in
several ways that change the zTOC bytes (it strips the trailing `/` of directories, merges
global headers, turns PAX mtimes into floats and accepts sparse/global entries), so the
headers are parsed here, following Go's reader step by step.

The parser pulls bytes from a `TarStream` (decompressed output or a plain file); it only
looks at 512-byte headers and meta entries and skips file data, so it never holds more than
one header (or one PAX/GNU long-name record, capped at 1 MiB as in Go) in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from soci_ci.errors import LayerError
from soci_ci.soci.tar_fields import (
    _FORMAT_STAR,
    _FORMAT_USTAR_PAX,
    _FORMAT_V7,
    _NANOS,
    _USTAR,
    _cached_numeric,
    _cstring,
    _header_format,
    _HeaderError,
    _parse_go_int,
    _parse_pax_records,
    _parse_pax_time,
    format_mod_time,
)

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_SPECIAL_FILE_SIZE = 1 << 20  # Go's maxSpecialFileSize for PAX and GNU long names

# Typeflags (Go archive/tar names).
TYPE_REG = 0x30  # '0'
TYPE_REGA = 0x00  # '\x00'
TYPE_LINK = 0x31
TYPE_SYMLINK = 0x32
TYPE_CHAR = 0x33
TYPE_BLOCK = 0x34
TYPE_DIR = 0x35
TYPE_FIFO = 0x36
TYPE_XHEADER = 0x78  # 'x'
TYPE_XGLOBAL = 0x67  # 'g'
TYPE_GNU_LONGNAME = 0x4C  # 'L'
TYPE_GNU_LONGLINK = 0x4B  # 'K'

_HEADER_ONLY = frozenset({TYPE_LINK, TYPE_SYMLINK, TYPE_CHAR, TYPE_BLOCK, TYPE_DIR, TYPE_FIFO})
_SOCI_TYPES = {
    TYPE_REG: b"reg",
    TYPE_LINK: b"hardlink",
    TYPE_SYMLINK: b"symlink",
    TYPE_CHAR: b"char",
    TYPE_BLOCK: b"block",
    TYPE_DIR: b"dir",
    TYPE_FIFO: b"fifo",
}


class TarStream(Protocol):
    """Sequential access to the uncompressed tar bytes."""

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer only at the end of the stream."""
        ...

    def skip(self, n: int) -> int:
        """Discard up to `n` bytes; return how many were there."""
        ...


@dataclass(slots=True)
class FileMetadata:
    """One TOC entry, with the raw byte strings the zTOC stores (not frozen: built in bulk)."""

    name: bytes
    type: bytes
    uncompressed_offset: int
    uncompressed_size: int
    linkname: bytes
    mode: int
    uid: int
    gid: int
    uname: bytes
    gname: bytes
    mod_time: bytes
    devmajor: int
    devminor: int
    xattrs: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class TarToc:
    entries: list[FileMetadata]
    end_offset: int  # where Go's reader returned io.EOF: the zTOC's uncompressed_archive_size


class _Reader:
    """Go's tar.Reader.Next, reduced to what the TOC needs."""

    def __init__(self, stream: TarStream) -> None:
        self.stream = stream
        self.pos = 0
        self.remaining = 0  # data bytes of the current entry not yet consumed
        self.pad = 0

    def _read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.pos += len(data)
        return data

    def _skip_current(self) -> bool:
        """Discard the rest of the entry's data (error if cut) and its padding (EOF ok)."""
        if self.remaining:
            got = self.stream.skip(self.remaining)
            self.pos += got
            if got < self.remaining:
                raise LayerError(
                    f"tar stream ends inside an entry's data at offset {self.pos} "
                    f"(unexpected EOF, {self.remaining - got} bytes missing)"
                )
            self.remaining = 0
        if self.pad:
            got = self.stream.skip(self.pad)
            self.pos += got
            short = got < self.pad
            self.pad = 0
            if short:
                return False
        return True

    def _read_entry_data(self, limit: int) -> bytes:
        want = min(self.remaining, limit + 1)
        data = self._read(want)
        self.remaining -= len(data)
        if len(data) < want:
            raise LayerError(f"tar stream ends inside a header entry at offset {self.pos}")
        if len(data) > limit:
            raise LayerError(
                f"tar meta entry at offset {self.pos} is larger than 1 MiB (Go: field too long)"
            )
        return data

    def _set_data(self, typeflag: int, size: int) -> None:
        nb = 0 if typeflag in _HEADER_ONLY else size
        if nb < 0:
            raise _HeaderError("negative size")
        self.remaining = nb
        self.pad = -nb % BLOCK

    def next(self) -> FileMetadata | None:
        pax: dict[bytes, bytes] | None = None
        long_name = b""
        long_link = b""
        while True:
            if not self._skip_current():
                return None
            header_at = self.pos
            blk = self._read(BLOCK)
            if not blk:
                return None
            if len(blk) < BLOCK:
                raise LayerError(f"tar stream ends inside a header at offset {header_at}")
            if blk == ZERO_BLOCK:
                blk2 = self._read(BLOCK)
                if not blk2:
                    return None
                if len(blk2) < BLOCK:
                    raise LayerError(f"tar stream ends inside a header at offset {self.pos}")
                if blk2 == ZERO_BLOCK:
                    return None
                raise LayerError(
                    f"invalid tar header at offset {header_at + BLOCK}: "
                    "a zero block followed by a non-zero block"
                )
            try:
                entry = self._parse_header(blk)
            except _HeaderError as exc:
                raise LayerError(f"invalid tar header at offset {header_at}: {exc}") from None
            typeflag = entry.typeflag
            try:
                self._set_data(typeflag, entry.size)
            except _HeaderError as exc:
                raise LayerError(f"invalid tar header at offset {header_at}: {exc}") from None
            if typeflag in (TYPE_XHEADER, TYPE_XGLOBAL):
                try:
                    pax = _parse_pax_records(self._read_entry_data(MAX_SPECIAL_FILE_SIZE))
                except _HeaderError as exc:
                    raise LayerError(f"invalid PAX header at offset {header_at}: {exc}") from None
                if typeflag == TYPE_XGLOBAL:
                    raise LayerError("unsupported input tar entry 'g'")
                continue
            if typeflag in (TYPE_GNU_LONGNAME, TYPE_GNU_LONGLINK):
                value = _cstring(self._read_entry_data(MAX_SPECIAL_FILE_SIZE))
                if typeflag == TYPE_GNU_LONGNAME:
                    long_name = value
                else:
                    long_link = value
                continue
            return self._finish(entry, pax, long_name, long_link, header_at)

    def _finish(
        self,
        h: _Header,
        pax: dict[bytes, bytes] | None,
        long_name: bytes,
        long_link: bytes,
        header_at: int,
    ) -> FileMetadata:
        xattrs: list[tuple[bytes, bytes]] = []
        if pax is not None:
            try:
                _merge_pax(h, pax)
            except _HeaderError as exc:
                raise LayerError(f"invalid PAX record before offset {header_at}: {exc}") from None
            if b"GNU.sparse.major" in pax or b"GNU.sparse.map" in pax:
                raise LayerError(
                    f"unsupported GNU sparse file {_show(h.name)!s} in PAX format "
                    "(SOCI cannot index sparse entries)"
                )
            xattrs = sorted(pax.items())
        if long_name:
            h.name = long_name
        if long_link:
            h.linkname = long_link
        typeflag = h.typeflag
        if typeflag == TYPE_REGA:
            typeflag = TYPE_DIR if h.name.endswith(b"/") else TYPE_REG
        try:
            self._set_data(typeflag, h.size)
        except _HeaderError as exc:
            raise LayerError(f"invalid tar header at offset {header_at}: {exc}") from None
        soci_type = _SOCI_TYPES.get(typeflag)
        if soci_type is None:
            raise LayerError(f"unsupported input tar entry {_go_quote_byte(typeflag)}")
        return FileMetadata(
            name=h.name,
            type=soci_type,
            uncompressed_offset=self.pos,
            uncompressed_size=h.size,
            linkname=h.linkname,
            mode=h.mode,
            uid=h.uid & 0xFFFFFFFF,
            gid=h.gid & 0xFFFFFFFF,
            uname=h.uname,
            gname=h.gname,
            mod_time=format_mod_time(h.mtime_ns),
            devmajor=h.devmajor,
            devminor=h.devminor,
            xattrs=xattrs,
        )

    @staticmethod
    def _parse_header(blk: bytes) -> _Header:
        fmt = _header_format(blk)
        if not fmt:
            raise _HeaderError("checksum mismatch or not a tar header")
        num = _cached_numeric
        (
            name,
            mode,
            uid,
            gid,
            size,
            mtime,
            _,
            typeflag,
            linkname,
            _,
            _,
            uname,
            gname,
            devmajor,
            devminor,
            prefix,
        ) = _USTAR.unpack_from(blk)
        h = _Header(
            typeflag=typeflag,
            name=name.partition(b"\x00")[0],
            linkname=linkname.partition(b"\x00")[0],
            size=num(size),
            mode=num(mode),
            uid=num(uid),
            gid=num(gid),
            mtime_ns=num(mtime) * _NANOS,
        )
        if fmt != _FORMAT_V7:
            h.uname = uname.partition(b"\x00")[0]
            h.gname = gname.partition(b"\x00")[0]
            h.devmajor = num(devmajor)
            h.devminor = num(devminor)
            if fmt == _FORMAT_USTAR_PAX:
                prefix = prefix.partition(b"\x00")[0]
            elif fmt == _FORMAT_STAR:
                prefix = prefix[:131].partition(b"\x00")[0]
            else:
                prefix = b""
            if prefix:
                h.name = prefix + b"/" + h.name
        return h


@dataclass(slots=True, kw_only=True)
class _Header:
    typeflag: int
    name: bytes
    linkname: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    uname: bytes = b""
    gname: bytes = b""
    devmajor: int = 0
    devminor: int = 0


def _merge_pax(h: _Header, pax: dict[bytes, bytes]) -> None:
    """Go mergePAX: non-empty records override header fields."""
    for key, value in pax.items():
        if not value:
            continue
        if key == b"path":
            h.name = value
        elif key == b"linkpath":
            h.linkname = value
        elif key == b"uname":
            h.uname = value
        elif key == b"gname":
            h.gname = value
        elif key == b"uid":
            h.uid = _parse_go_int(value)
        elif key == b"gid":
            h.gid = _parse_go_int(value)
        elif key == b"mtime":
            h.mtime_ns = _parse_pax_time(value)
        elif key in (b"atime", b"ctime"):
            _parse_pax_time(value)
        elif key == b"size":
            h.size = _parse_go_int(value)


def _go_quote_byte(c: int) -> str:
    """Go's %q of a byte (a rune literal)."""
    if 0x20 <= c < 0x7F and c not in (0x27, 0x5C):
        return f"'{chr(c)}'"
    return {0x27: r"'\''", 0x5C: r"'\\'", 0: r"'\x00'"}.get(c, f"'\\x{c:02x}'")


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "replace"))[:200]


def read_toc(stream: TarStream) -> TarToc:
    """Read every entry of the tar stream; raise LayerError on what Go (or soci) rejects."""
    reader = _Reader(stream)
    entries: list[FileMetadata] = []
    while (entry := reader.next()) is not None:
        entries.append(entry)
    return TarToc(entries=entries, end_offset=reader.pos)

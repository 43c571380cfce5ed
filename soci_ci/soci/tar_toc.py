"""The table of contents of a tar stream, read with Go `archive/tar` rules.

The official soci tool reads layers with Go's `archive/tar` and records, per entry, the
header fields and the offset of the entry's data in the uncompressed stream
(shared notes 1a, "How tar headers map to FileMetadata"). Python's `tarfile` differs in
several ways that change the zTOC bytes (it strips the trailing `/` of directories, merges
global headers, turns PAX mtimes into floats and accepts sparse/global entries), so the
headers are parsed here, following Go's reader step by step.

The parser pulls bytes from a `TarStream` (decompressed output or a plain file); it only
looks at 512-byte headers and meta entries and skips file data, so it never holds more than
one header (or one PAX/GNU long-name record, capped at 1 MiB as in Go) in memory besides the
entries. What the entries may hold is bounded (`soci_ci.limits`): their number, the PAX
headers and long names of the whole layer together, and the number of PAX records; a layer
past a limit is refused before it can grow memory or time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

from soci_ci import limits
from soci_ci.errors import LayerError
from soci_ci.soci.tar_fields import (
    _FORMAT_STAR,
    _FORMAT_USTAR_PAX,
    _FORMAT_V7,
    _NANOS,
    _NUMERIC_CACHE,
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
MAX_SPECIAL_FILE_SIZE = limits.MAX_TAR_SPECIAL_ENTRY  # Go's maxSpecialFileSize
LIMITS_HINT = "soci-ci bounds what an untrusted layer may hold; the limits are in SECURITY.md"

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
        self.special_total = limits.MAX_TAR_SPECIAL_TOTAL  # PAX and long-name bytes allowed
        self.special_left = self.special_total
        self.records_left = limits.MAX_PAX_RECORDS

    def _read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.pos += len(data)
        return data

    def _skip_current(self) -> bool:
        """Discard the rest of the entry's data (error if cut) and its padding (EOF ok)."""
        remaining = self.remaining
        want = remaining + self.pad
        got = self.stream.skip(want)
        self.pos += got
        self.remaining = self.pad = 0
        if got < remaining:
            raise LayerError(
                f"tar stream ends inside an entry's data at offset {self.pos} "
                f"(unexpected EOF, {remaining - got} bytes missing)"
            )
        return got == want

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
        self.special_left -= len(data)
        if self.special_left < 0:
            raise LayerError(
                f"the PAX headers and long names exceed {self.special_total >> 20} MiB "
                f"in total (at offset {self.pos})",
                hint=LIMITS_HINT,
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
        read = self.stream.read
        while True:
            if (self.remaining or self.pad) and not self._skip_current():
                return None
            header_at = self.pos
            blk = read(BLOCK)
            self.pos = header_at + len(blk)
            if len(blk) < BLOCK:
                if not blk:
                    return None
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
                typeflag, entry, mtime_ns = _parse_header(blk)
                self._set_data(typeflag, entry.uncompressed_size)
            except _HeaderError as exc:
                raise LayerError(f"invalid tar header at offset {header_at}: {exc}") from None
            if typeflag in (TYPE_XHEADER, TYPE_XGLOBAL):
                try:
                    pax = _parse_pax_records(self._read_entry_data(MAX_SPECIAL_FILE_SIZE))
                except _HeaderError as exc:
                    raise LayerError(f"invalid PAX header at offset {header_at}: {exc}") from None
                self.records_left -= len(pax)
                if self.records_left < 0:
                    raise LayerError(
                        f"the layer has more than {limits.MAX_PAX_RECORDS} PAX records "
                        f"(at offset {header_at})",
                        hint=LIMITS_HINT,
                    )
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
            if pax is not None:
                mtime_ns = self._apply_pax(entry, mtime_ns, pax, header_at)
            if long_name:
                entry.name = long_name
            if long_link:
                entry.linkname = long_link
            if typeflag == TYPE_REGA:
                typeflag = TYPE_DIR if entry.name.endswith(b"/") else TYPE_REG
            try:
                self._set_data(typeflag, entry.uncompressed_size)
            except _HeaderError as exc:
                raise LayerError(f"invalid tar header at offset {header_at}: {exc}") from None
            soci_type = _SOCI_TYPES.get(typeflag)
            if soci_type is None:
                raise LayerError(f"unsupported input tar entry {_go_quote_byte(typeflag)}")
            entry.type = soci_type
            entry.uncompressed_offset = self.pos
            entry.uid &= 0xFFFFFFFF  # the zTOC stores uint32 (Go converts with uint32())
            entry.gid &= 0xFFFFFFFF
            entry.mod_time = format_mod_time(mtime_ns)
            return entry

    @staticmethod
    def _apply_pax(
        entry: FileMetadata, mtime_ns: int, pax: dict[bytes, bytes], header_at: int
    ) -> int:
        """Go mergePAX onto the entry; PAX records become its xattrs. Returns the mtime."""
        try:
            mtime_ns = _merge_pax(entry, mtime_ns, pax)
        except _HeaderError as exc:
            raise LayerError(f"invalid PAX record before offset {header_at}: {exc}") from None
        if b"GNU.sparse.major" in pax or b"GNU.sparse.map" in pax:
            raise LayerError(
                f"unsupported GNU sparse file {_show(entry.name)!s} in PAX format "
                "(SOCI cannot index sparse entries)"
            )
        entry.xattrs = sorted(pax.items())
        return mtime_ns


class TarWalker(_Reader):
    """The same Go-rules reader for other tar files (an oci-archive): entries one at a time,
    each entry's data on request (what is not read is skipped by the next `next()`)."""

    def __init__(self, stream: TarStream, *, special_total: int) -> None:
        super().__init__(stream)
        self.special_total = self.special_left = special_total

    def data(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The current entry's data, in pieces of at most `chunk` bytes."""
        while self.remaining:
            piece = self._read(min(chunk, self.remaining))
            if not piece:
                raise LayerError(
                    f"tar stream ends inside an entry's data at offset {self.pos} "
                    f"(unexpected EOF, {self.remaining} bytes missing)"
                )
            self.remaining -= len(piece)
            yield piece


_NUMBERS = _NUMERIC_CACHE.get


def _parse_header(blk: bytes) -> tuple[int, FileMetadata, int]:
    """(typeflag, the entry's header fields, mtime in ns); type/offset/mod_time are set later.

    Numeric fields repeat (modes, ids, mtimes, small sizes): each distinct field is parsed
    once (`_cached_numeric`), looked up inline here because this runs for every entry.
    """
    fmt = _header_format(blk)
    if not fmt:
        raise _HeaderError("checksum mismatch or not a tar header")
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
    fields = (size, mode, uid, gid, mtime)
    cached = [_NUMBERS(field) for field in fields]
    numbers = (
        [_cached_numeric(field) for field in fields] if None in cached else cast(list[int], cached)
    )
    n_size, n_mode, n_uid, n_gid, n_mtime = numbers
    entry = FileMetadata(
        name.partition(b"\x00")[0],
        b"",
        0,
        n_size,
        linkname.partition(b"\x00")[0],
        n_mode,
        n_uid,
        n_gid,
        b"",
        b"",
        b"",
        0,
        0,
        [],
    )
    if fmt != _FORMAT_V7:
        entry.uname = uname.partition(b"\x00")[0]
        entry.gname = gname.partition(b"\x00")[0]
        entry.devmajor = _cached_numeric(devmajor)
        entry.devminor = _cached_numeric(devminor)
        if fmt == _FORMAT_USTAR_PAX:
            prefix = prefix.partition(b"\x00")[0]
        elif fmt == _FORMAT_STAR:
            prefix = prefix[:131].partition(b"\x00")[0]
        else:
            prefix = b""
        if prefix:
            entry.name = prefix + b"/" + entry.name
    return typeflag, entry, n_mtime * _NANOS


def _merge_pax(entry: FileMetadata, mtime_ns: int, pax: dict[bytes, bytes]) -> int:
    """Go mergePAX: non-empty records override header fields. Returns the mtime."""
    for key, value in pax.items():
        if not value:
            continue
        if key == b"path":
            entry.name = value
        elif key == b"linkpath":
            entry.linkname = value
        elif key == b"uname":
            entry.uname = value
        elif key == b"gname":
            entry.gname = value
        elif key == b"uid":
            entry.uid = _parse_go_int(value)
        elif key == b"gid":
            entry.gid = _parse_go_int(value)
        elif key == b"mtime":
            mtime_ns = _parse_pax_time(value)
        elif key in (b"atime", b"ctime"):
            _parse_pax_time(value)
        elif key == b"size":
            entry.uncompressed_size = _parse_go_int(value)
    return mtime_ns


def _go_quote_byte(c: int) -> str:
    """Go's %q of a byte (a rune literal)."""
    if 0x20 <= c < 0x7F and c not in (0x27, 0x5C):
        return f"'{chr(c)}'"
    return {0x27: r"'\''", 0x5C: r"'\\'", 0: r"'\x00'"}.get(c, f"'\\x{c:02x}'")


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "replace"))[:200]


def read_toc(stream: TarStream, on_entry: Callable[[FileMetadata], None] | None = None) -> TarToc:
    """Read every entry of the tar stream; raise LayerError on what Go (or soci) rejects.

    `on_entry` sees each entry before its data is skipped (verify's record taps the data).
    """
    reader = _Reader(stream)
    entries: list[FileMetadata] = []
    append = entries.append
    room = limits.MAX_TOC_ENTRIES
    while (entry := reader.next()) is not None:
        if on_entry is not None:
            on_entry(entry)
        append(entry)
        room -= 1
        if room < 0:
            raise LayerError(
                f"the layer has more than {limits.MAX_TOC_ENTRIES} entries "
                f"(at offset {reader.pos})",
                hint=LIMITS_HINT,
            )
    return TarToc(entries=entries, end_offset=reader.pos)

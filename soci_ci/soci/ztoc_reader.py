"""Read a zTOC flatbuffer back (for `verify`), defensively: a bad zTOC is an InputError.

Nothing the buffer declares is allocated before it is checked against the buffer itself:
every vector length must fit in the bytes that remain, and the entries, their xattrs and the
checkpoints are bounded as when writing (`soci_ci.limits`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from soci_ci import limits
from soci_ci.errors import InputError
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.zlib_binding import WINDOW_SIZE
from soci_ci.soci.ztoc_writer import ALGORITHM_GZIP, ALGORITHM_UNCOMPRESSED

CHECKPOINT_SIZE = 17 + WINDOW_SIZE


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedZtoc:
    version: str
    build_tool_identifier: str
    compressed_archive_size: int
    uncompressed_archive_size: int
    algorithm: int
    max_span_id: int
    span_digests: list[str]
    checkpoints_blob: bytes
    entries: list[FileMetadata]


@dataclass(frozen=True, slots=True, kw_only=True)
class TarZinfo:
    version: int
    span_size: int
    size: int


class _Table:
    __slots__ = ("buf", "pos", "vt", "vt_len")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        if not 0 <= pos <= len(buf) - 4:
            raise IndexError("table out of bounds")
        (soff,) = struct.unpack_from("<i", buf, pos)
        self.vt = pos - soff
        if not 0 <= self.vt <= len(buf) - 4:
            raise IndexError("vtable out of bounds")
        (self.vt_len,) = struct.unpack_from("<H", buf, self.vt)
        if self.vt + self.vt_len > len(buf):
            raise IndexError("vtable out of bounds")

    def _field(self, slot: int) -> int:
        entry = 4 + 2 * slot
        if entry >= self.vt_len:
            return 0
        (off,) = struct.unpack_from("<H", self.buf, self.vt + entry)
        return self.pos + off if off else 0

    def scalar(self, slot: int, fmt: str, default: int = 0) -> int:
        at = self._field(slot)
        if not at:
            return default
        value: int = struct.unpack_from(fmt, self.buf, at)[0]
        return value

    def _deref(self, slot: int) -> int:
        at = self._field(slot)
        if not at:
            return 0
        rel: int = struct.unpack_from("<I", self.buf, at)[0]
        return at + rel

    def bytes_(self, slot: int) -> bytes:
        at = self._deref(slot)
        if not at:
            return b""
        (n,) = struct.unpack_from("<I", self.buf, at)
        end = at + 4 + n
        if end > len(self.buf):
            raise IndexError("string out of bounds")
        return self.buf[at + 4 : end]

    def table(self, slot: int) -> _Table | None:
        at = self._deref(slot)
        return _Table(self.buf, at) if at else None

    def _vector(self, slot: int, limit: int, what: str) -> tuple[int, int]:
        """(position, length) of a vector of offsets, checked against the buffer and `limit`."""
        at = self._deref(slot)
        if not at:
            return 0, 0
        (n,) = struct.unpack_from("<I", self.buf, at)
        if at + 4 + 4 * n > len(self.buf):
            raise IndexError("vector out of bounds")
        if n > limit:
            raise InputError(f"zTOC has {n} {what}; the limit is {limit}")
        return at, n

    def tables(
        self, slot: int, limit: int = limits.MAX_TOC_ENTRIES, what: str = "entries"
    ) -> list[_Table]:
        at, n = self._vector(slot, limit, what)
        out = []
        for i in range(n):
            elem = at + 4 + 4 * i
            (rel,) = struct.unpack_from("<I", self.buf, elem)
            out.append(_Table(self.buf, elem + rel))
        return out

    def strings(self, slot: int, limit: int, what: str) -> list[bytes]:
        at, n = self._vector(slot, limit, what)
        out = []
        for i in range(n):
            elem = at + 4 + 4 * i
            (rel,) = struct.unpack_from("<I", self.buf, elem)
            s = elem + rel
            (ln,) = struct.unpack_from("<I", self.buf, s)
            if s + 4 + ln > len(self.buf):
                raise IndexError("string out of bounds")
            out.append(self.buf[s + 4 : s + 4 + ln])
        return out


def parse_ztoc(data: bytes) -> ParsedZtoc:
    if len(data) > limits.MAX_ZTOC_READ:
        raise InputError(f"zTOC is {len(data)} bytes; the limit is {limits.MAX_ZTOC_READ}")
    try:
        (root,) = struct.unpack_from("<I", data, 0)
        z = _Table(data, root)
        toc = z.table(4)
        info = z.table(5)
        if info is None:
            raise InputError("zTOC has no compression info")
        entries = []
        xattrs_left = limits.MAX_PAX_RECORDS
        for t in toc.tables(0) if toc else []:
            xattr_tables = t.tables(13, xattrs_left, "xattrs")
            xattrs_left -= len(xattr_tables)
            entries.append(
                FileMetadata(
                    name=t.bytes_(0),
                    type=t.bytes_(1),
                    uncompressed_offset=t.scalar(2, "<q"),
                    uncompressed_size=t.scalar(3, "<q"),
                    linkname=t.bytes_(4),
                    mode=t.scalar(5, "<q"),
                    uid=t.scalar(6, "<I"),
                    gid=t.scalar(7, "<I"),
                    uname=t.bytes_(8),
                    gname=t.bytes_(9),
                    mod_time=t.bytes_(10),
                    devmajor=t.scalar(11, "<q"),
                    devminor=t.scalar(12, "<q"),
                    xattrs=[(x.bytes_(0), x.bytes_(1)) for x in xattr_tables],
                )
            )
        return ParsedZtoc(
            version=z.bytes_(0).decode("utf-8", "replace"),
            build_tool_identifier=z.bytes_(1).decode("utf-8", "replace"),
            compressed_archive_size=z.scalar(2, "<q"),
            uncompressed_archive_size=z.scalar(3, "<q"),
            algorithm=info.scalar(0, "<b", ALGORITHM_GZIP),
            max_span_id=info.scalar(1, "<i"),
            span_digests=[
                s.decode("ascii", "replace")
                for s in info.strings(2, limits.MAX_ZTOC_SPANS + 1, "span digests")
            ],
            checkpoints_blob=info.bytes_(3),
            entries=entries,
        )
    except (struct.error, IndexError, RecursionError) as exc:
        raise InputError(f"malformed zTOC flatbuffer: {exc}") from None


def parse_checkpoints(blob: bytes) -> tuple[int, list[Checkpoint]]:
    """The gzip zinfo blob → (span size, checkpoints); legacy blobs get checkpoint 0 added."""
    if len(blob) < 12:
        raise InputError(f"zinfo blob too short ({len(blob)} bytes)")
    n, span = struct.unpack_from("<iq", blob, 0)
    body = len(blob) - 12
    if n < 0:
        raise InputError(f"zinfo blob has a negative checkpoint count {n}")
    if n > limits.MAX_ZTOC_SPANS + 1:
        raise InputError(
            f"zinfo blob declares {n} checkpoints; the limit is {limits.MAX_ZTOC_SPANS}"
        )
    if body == CHECKPOINT_SIZE * n:
        legacy = False
    elif n > 0 and body == CHECKPOINT_SIZE * (n - 1):
        legacy = True
    else:
        raise InputError(
            f"zinfo blob length {len(blob)} does not match {n} checkpoints "
            f"(expected {12 + CHECKPOINT_SIZE * n})"
        )
    checkpoints = [Checkpoint(10, 0, 0, bytes(WINDOW_SIZE))] if legacy else []
    at = 12
    while at < len(blob):
        in_off, out_off, bits = struct.unpack_from("<qqB", blob, at)
        checkpoints.append(Checkpoint(in_off, out_off, bits, blob[at + 17 : at + CHECKPOINT_SIZE]))
        at += CHECKPOINT_SIZE
    return span, checkpoints


def parse_tar_zinfo(blob: bytes) -> TarZinfo:
    try:
        (root,) = struct.unpack_from("<I", blob, 0)
        t = _Table(blob, root)
        return TarZinfo(
            version=t.scalar(0, "<i"), span_size=t.scalar(1, "<q"), size=t.scalar(2, "<q")
        )
    except (struct.error, IndexError) as exc:
        raise InputError(f"malformed TarZinfo: {exc}") from None


__all__ = ["ALGORITHM_GZIP", "ALGORITHM_UNCOMPRESSED", "ParsedZtoc", "parse_ztoc"]

"""Serialize a zTOC as the flatbuffer upstream's `ztocToFlatbuffer` writes (notes 1a).

The builder call order below is the byte-exact recipe: version and tool strings, then the
FileMetadata tables from the last entry to the first (strings, xattrs vector, table), the
TOC table, the checkpoints byte vector, the span digest strings and vector, CompressionInfo,
and the Ztoc root with `toc` added before the two sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from soci_ci.soci.flatbuf import _U32, Builder
from soci_ci.soci.tar_toc import FileMetadata

_NUL_PAD = tuple(bytes(n + 1) for n in range(4))
ALGORITHM_GZIP = 1  # the schema default: never written
ALGORITHM_UNCOMPRESSED = 2


def serialize_ztoc(
    *,
    version: str,
    build_tool_identifier: str,
    compressed_archive_size: int,
    uncompressed_archive_size: int,
    entries: Sequence[FileMetadata],
    checkpoints: bytes | list[bytes],
    span_digests: Sequence[str],
    max_span_id: int,
    algorithm: int,
) -> bytes:
    b = Builder()
    version_off = b.create_string(version.encode())
    tool_off = b.create_string(build_tool_identifier.encode())
    meta_offsets = _TableWriter(b).write_all(entries)
    metadata_vec = b.create_offset_vector(meta_offsets)
    b.start_object(1)
    b.add_offset(0, metadata_vec)
    toc_off = b.end_object()

    checkpoints_off = b.create_byte_vector(checkpoints)
    digest_offs = [b.create_string(d.encode()) for d in span_digests]
    digests_vec = b.create_offset_vector(digest_offs)
    b.start_object(4)
    b.add_int32(1, max_span_id)
    b.add_offset(2, digests_vec)
    b.add_offset(3, checkpoints_off)
    b.add_int8(0, algorithm, ALGORITHM_GZIP)
    info_off = b.end_object()

    b.start_object(6)
    b.add_offset(0, version_off)
    b.add_offset(1, tool_off)
    b.add_offset(4, toc_off)
    b.add_int64(2, compressed_archive_size)
    b.add_int64(3, uncompressed_archive_size)
    b.add_offset(5, info_off)
    return b.finish(b.end_object())


class _TableWriter:
    """FileMetadata tables from templates: one `struct` call per entry once a shape is known.

    For an entry without xattrs, the layout after its name string depends only on (a) the
    "rest": type, linkname, uname, gname (written 4-aligned, so always the same bytes) and
    the length of mod_time, and (b) its shape: which optional numbers are non-zero and
    whether the table starts 8-aligned. Given those, every uoffset in the table is a
    constant and the vtable is the same, so the table is one `struct.pack` of the numbers.
    The first entry of each shape (and any entry with xattrs) goes through the generic
    builder calls, which also write the vtable; later ones reuse it. Same bytes either way;
    the tests compare with PyPI `flatbuffers`.
    """

    __slots__ = ("b", "rests", "vtables")

    def __init__(self, b: Builder) -> None:
        self.b = b
        self.rests: dict[_RestKey, _Rest] = {}
        self.vtables: dict[tuple[int, ...], int] = {}  # shape -> vtable offset, once written

    def write_all(self, entries: Sequence[FileMetadata]) -> list[int]:
        b = self.b
        parts = b._parts
        ap = parts.append
        p32 = _U32.pack
        rests = self.rests
        vtables = self.vtables
        offsets = [0] * len(entries)
        wide = False
        for i in range(len(entries) - 1, -1, -1):
            e = entries[i]
            if e.xattrs:  # rare: the generic builder calls
                offsets[i] = _file_metadata_reference(b, e)
                continue
            off = b.offset
            mod_time = e.mod_time
            rest_key = (e.type, e.linkname, e.uname, e.gname, len(mod_time))
            rest = rests.get(rest_key)
            if rest is None:
                rest = rests[rest_key] = _rest_strings(rest_key)
            name = e.name
            n = len(name)
            pad = -(off + n + 1) & 3
            table_start = off + pad + n + 5 + rest[1]
            shape = (
                table_start & 4,
                e.uncompressed_offset != 0,
                e.uncompressed_size != 0,
                e.mode != 0,
                e.uid != 0,
                e.gid != 0,
                e.devmajor != 0,
                e.devminor != 0,
            )
            vtable = vtables.get(shape)
            if vtable is None:  # the first of its shape also writes the vtable
                offsets[i] = _file_metadata_reference(b, e)
                vtables[shape] = b.last_vtable
                continue
            size, pack, has_int64 = _template(shape)
            object_offset = table_start + size + 4
            ap(p32(n) + name + _NUL_PAD[pad])
            ap(rest[0])
            ap(rest[3] + mod_time + rest[4])
            ap(pack(vtable - object_offset, e, rest[2]))
            b.offset = offsets[i] = object_offset
            wide = wide or has_int64
        b.minalign = max(b.minalign, 8 if wide else 4 if entries else 1)
        return offsets


_RestKey = tuple[bytes, bytes, bytes, bytes, int]
_Rest = tuple[bytes, int, tuple[int, ...], bytes, bytes]


def _rest_strings(rest: _RestKey) -> _Rest:
    """What follows the name string, for (type, linkname, uname, gname, len(mod_time)).

    Returns the four strings' bytes (memory order), the length of everything up to the
    table (strings, mod_time, empty xattrs vector), per string (name first) the distance
    from its end to the table's start, and the bytes around mod_time: its length prefix
    after the xattrs vector, and its NUL and padding. Each string starts 4-aligned, so its
    padding depends only on its length.
    """
    type_, linkname, uname, gname, mod_time_len = rest
    pieces = []
    ends = [0]
    off = 0
    for text in (type_, linkname, uname, gname):
        n = len(text)
        pad = -(n + 1) & 3
        pieces.append(_U32.pack(n) + text + _NUL_PAD[pad])
        off += pad + n + 5
        ends.append(off)
    pad = -(mod_time_len + 1) & 3
    off += pad + mod_time_len + 5
    ends.append(off)
    total = off + 4  # the empty xattrs vector
    before = b"\x00\x00\x00\x00" + _U32.pack(mod_time_len)
    return (
        b"".join(reversed(pieces)),
        total,
        tuple(total - end for end in ends),
        before,
        _NUL_PAD[pad],
    )


_TEMPLATES: dict[tuple[int, ...], tuple[int, Callable[..., bytes], bool]] = {}
# Write order of the table's fields: (slot, kind, attribute or string index).
_FIELDS = (
    (0, "str", 0),
    (1, "str", 1),
    (2, "i64", "uncompressed_offset"),
    (3, "i64", "uncompressed_size"),
    (4, "str", 2),
    (5, "i64", "mode"),
    (6, "u32", "uid"),
    (7, "u32", "gid"),
    (8, "str", 3),
    (9, "str", 4),
    (10, "str", 5),
    (11, "i64", "devmajor"),
    (12, "i64", "devminor"),
    (13, "xattrs", None),
)


def _template(shape: tuple[int, ...]) -> tuple[int, Callable[..., bytes], bool]:
    """(table size without its vtable offset, pack(soffset, entry, distances), any int64).

    The pack function is generated once per shape (at most 256 of them): `struct` cannot
    hold constants, so the generated call lists them as literals, in memory order.
    """
    found = _TEMPLATES.get(shape)
    if found is not None:
        return found
    start8, *present = shape
    optional = iter(present)
    pos = 0
    items: list[tuple[str, str]] = []  # write order: (struct code, argument expression)
    for _slot, kind, what in _FIELDS:
        if kind in ("i64", "u32") and not next(optional):
            continue
        if kind == "i64":
            if (start8 + pos) & 7:
                items.append(("4x", ""))
                pos += 4
            pos += 8
            items.append(("q", f"e.{what}"))
        elif kind == "u32":
            pos += 4
            items.append(("I", f"e.{what}"))
        elif kind == "str":
            pos += 4
            items.append(("I", f"{pos} + d[{what}]"))
        else:
            pos += 4
            items.append(("I", str(pos)))
    items.reverse()
    fmt = "<i" + "".join(code for code, _ in items)
    args = ", ".join(["so"] + [arg for _, arg in items if arg])
    namespace = {"_pack": struct.Struct(fmt).pack}
    exec(f"def pack(so, e, d):\n    return _pack({args})\n", namespace)  # noqa: S102
    found = (pos, namespace["pack"], any(code == "q" for code, _ in items))
    _TEMPLATES[shape] = found
    return found


def _file_metadata_reference(b: Builder, e: FileMetadata) -> int:
    """One FileMetadata table with the generic builder calls, in the recipe's order."""
    name = b.create_string(e.name)
    type_ = b.create_string(e.type)
    linkname = b.create_string(e.linkname)
    uname = b.create_string(e.uname)
    gname = b.create_string(e.gname)
    mod_time = b.create_string(e.mod_time)
    xattr_offs = []
    for key, value in e.xattrs:
        k = b.create_string(key)
        v = b.create_string(value)
        b.start_object(2)
        b.add_offset(0, k)
        b.add_offset(1, v)
        xattr_offs.append(b.end_object())
    xattrs = b.create_offset_vector(xattr_offs)
    b.start_object(14)
    b.add_offset(0, name)
    b.add_offset(1, type_)
    b.add_int64(2, e.uncompressed_offset)
    b.add_int64(3, e.uncompressed_size)
    b.add_offset(4, linkname)
    b.add_int64(5, e.mode)
    b.add_uint32(6, e.uid)
    b.add_uint32(7, e.gid)
    b.add_offset(8, uname)
    b.add_offset(9, gname)
    b.add_offset(10, mod_time)
    b.add_int64(11, e.devmajor)
    b.add_int64(12, e.devminor)
    b.add_offset(13, xattrs)
    return b.end_object()


def serialize_tar_zinfo(*, span_size: int, size: int, version: int = 2) -> bytes:
    """The TarZinfo flatbuffer stored as `checkpoints` of uncompressed layers (notes 1b)."""
    b = Builder()
    b.start_object(3)
    b.add_int32(0, version)
    b.add_int64(1, span_size)
    b.add_int64(2, size)
    return b.finish(b.end_object())

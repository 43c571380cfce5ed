"""Serialize a zTOC as the flatbuffer upstream's `ztocToFlatbuffer` writes (notes 1a).

The builder call order below is the byte-exact recipe: version and tool strings, then the
FileMetadata tables from the last entry to the first (strings, xattrs vector, table), the
TOC table, the checkpoints byte vector, the span digest strings and vector, CompressionInfo,
and the Ztoc root with `toc` added before the two sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from soci_ci.soci.flatbuf import _I64, _U32, Builder
from soci_ci.soci.tar_toc import FileMetadata

_PAD = tuple(bytes(n) for n in range(8))
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
    meta_offsets = [0] * len(entries)
    for i in range(len(entries) - 1, -1, -1):
        meta_offsets[i] = _file_metadata(b, entries[i])
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


def _file_metadata(b: Builder, e: FileMetadata) -> int:
    """One FileMetadata table: the generic builder calls, inlined for speed (50k+ entries).

    Same operations in the same order as `_file_metadata_reference`; the tests compare both
    with PyPI `flatbuffers`.
    """
    if e.xattrs:
        return _file_metadata_reference(b, e)
    ap = b._parts.append
    p32 = _U32.pack
    p64 = _I64.pack
    off = b.offset  # a multiple of 4 here: strings and tables end 4-aligned
    b.minalign = max(b.minalign, 4)
    # Six strings: [len][bytes][NUL][pad to 4], written name first (highest address).
    offs = []
    for text in (e.name, e.type, e.linkname, e.uname, e.gname, e.mod_time):
        n = len(text)
        pad = -(off + n + 1) & 3
        ap(p32(n) + text + _NUL_PAD[pad])
        off += pad + n + 5
        offs.append(off)
    s_name, s_type, s_link, s_uname, s_gname, s_mtime = offs
    ap(b"\x00\x00\x00\x00")  # the xattrs vector, always written, here empty
    off += 4
    xattrs = object_end = off
    v = [0] * 14
    # The table, in the recipe's order. Offsets stay 4-aligned (every item is 4 or 8 bytes),
    # so only the int64 fields may need 4 bytes of padding to reach 8.
    ap(p32(off + 4 - s_name))
    off += 4
    v[0] = off
    ap(p32(off + 4 - s_type))
    off += 4
    v[1] = off
    for slot, value in ((2, e.uncompressed_offset), (3, e.uncompressed_size)):
        if value:
            if off & 7:
                ap(_PAD[4])
                off += 4
            ap(p64(value))
            off += 8
            v[slot] = off
    ap(p32(off + 4 - s_link))
    off += 4
    v[4] = off
    if e.mode:
        if off & 7:
            ap(_PAD[4])
            off += 4
        ap(p64(e.mode))
        off += 8
        v[5] = off
    if e.uid:
        ap(p32(e.uid))
        off += 4
        v[6] = off
    if e.gid:
        ap(p32(e.gid))
        off += 4
        v[7] = off
    ap(p32(off + 4 - s_uname))
    off += 4
    v[8] = off
    ap(p32(off + 4 - s_gname))
    off += 4
    v[9] = off
    ap(p32(off + 4 - s_mtime))
    off += 4
    v[10] = off
    for slot, value in ((11, e.devmajor), (12, e.devminor)):
        if value:
            if off & 7:
                ap(_PAD[4])
                off += 4
            ap(p64(value))
            off += 8
            v[slot] = off
    ap(p32(off + 4 - xattrs))
    off += 4
    v[13] = off
    if e.uncompressed_offset or e.uncompressed_size or e.mode or e.devmajor or e.devminor:
        b.minalign = 8
    b.offset = off
    b._vtable = v
    b._object_end = object_end
    return b.end_object()


def _file_metadata_reference(b: Builder, e: FileMetadata) -> int:
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

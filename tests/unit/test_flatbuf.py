"""The hand-written serializer against PyPI `flatbuffers` (same call order) and upstream's golden."""

from __future__ import annotations

import copy
import hashlib
import random

import flatbuffers
import pytest

from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.ztoc_writer import serialize_tar_zinfo, serialize_ztoc


def reference(
    version: bytes,
    tool: bytes,
    csize: int,
    usize: int,
    entries: list[FileMetadata],
    checkpoints: bytes,
    digests: list[bytes],
    max_span: int,
    algorithm: int,
) -> bytes:
    """notes 1a's recipe, step by step, with the upstream FlatBuffers builder."""
    b = flatbuffers.Builder(0)
    v, t = b.CreateString(version), b.CreateString(tool)
    offs = [0] * len(entries)
    for i in range(len(entries) - 1, -1, -1):
        e = entries[i]
        strs = [
            b.CreateString(x) for x in (e.name, e.type, e.linkname, e.uname, e.gname, e.mod_time)
        ]
        xs = []
        for key, value in e.xattrs:
            k, val = b.CreateString(key), b.CreateString(value)
            b.StartObject(2)
            b.PrependUOffsetTRelativeSlot(0, k, 0)
            b.PrependUOffsetTRelativeSlot(1, val, 0)
            xs.append(b.EndObject())
        b.StartVector(4, len(xs), 4)
        for x in reversed(xs):
            b.PrependUOffsetTRelative(x)
        xv = b.EndVector()
        b.StartObject(14)
        b.PrependUOffsetTRelativeSlot(0, strs[0], 0)
        b.PrependUOffsetTRelativeSlot(1, strs[1], 0)
        b.PrependInt64Slot(2, e.uncompressed_offset, 0)
        b.PrependInt64Slot(3, e.uncompressed_size, 0)
        b.PrependUOffsetTRelativeSlot(4, strs[2], 0)
        b.PrependInt64Slot(5, e.mode, 0)
        b.PrependUint32Slot(6, e.uid, 0)
        b.PrependUint32Slot(7, e.gid, 0)
        b.PrependUOffsetTRelativeSlot(8, strs[3], 0)
        b.PrependUOffsetTRelativeSlot(9, strs[4], 0)
        b.PrependUOffsetTRelativeSlot(10, strs[5], 0)
        b.PrependInt64Slot(11, e.devmajor, 0)
        b.PrependInt64Slot(12, e.devminor, 0)
        b.PrependUOffsetTRelativeSlot(13, xv, 0)
        offs[i] = b.EndObject()
    b.StartVector(4, len(offs), 4)
    for o in reversed(offs):
        b.PrependUOffsetTRelative(o)
    mv = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, mv, 0)
    toc = b.EndObject()
    cp = b.CreateByteVector(checkpoints)
    ds = [b.CreateString(d) for d in digests]
    b.StartVector(4, len(ds), 4)
    for d in reversed(ds):
        b.PrependUOffsetTRelative(d)
    dv = b.EndVector()
    b.StartObject(4)
    b.PrependInt32Slot(1, max_span, 0)
    b.PrependUOffsetTRelativeSlot(2, dv, 0)
    b.PrependUOffsetTRelativeSlot(3, cp, 0)
    b.PrependInt8Slot(0, algorithm, 1)
    info = b.EndObject()
    b.StartObject(6)
    b.PrependUOffsetTRelativeSlot(0, v, 0)
    b.PrependUOffsetTRelativeSlot(1, t, 0)
    b.PrependUOffsetTRelativeSlot(4, toc, 0)
    b.PrependInt64Slot(2, csize, 0)
    b.PrependInt64Slot(3, usize, 0)
    b.PrependUOffsetTRelativeSlot(5, info, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def random_entry(rng: random.Random) -> FileMetadata:
    def s() -> bytes:
        return rng.randbytes(rng.choice([0, 0, 1, 3, 7, 40, 300]))

    def n() -> int:
        return rng.choice([0, 0, 1, 511, 1 << 33, -(1 << 40)])

    return FileMetadata(
        name=s(),
        type=rng.choice([b"reg", b"dir", b"symlink"]),
        uncompressed_offset=abs(n()),
        uncompressed_size=abs(n()),
        linkname=s(),
        mode=n(),
        uid=abs(n()) & 0xFFFFFFFF,
        gid=abs(n()) & 0xFFFFFFFF,
        uname=s(),
        gname=s(),
        mod_time=s(),
        devmajor=n(),
        devminor=n(),
        xattrs=sorted((s(), s()) for _ in range(rng.choice([0, 0, 1, 4]))),
    )


@pytest.mark.parametrize("seed", range(25))
def test_same_bytes_as_pypi_flatbuffers(seed: int) -> None:
    rng = random.Random(seed)
    entries = [random_entry(rng) for _ in range(rng.randint(0, 60))]
    digests = [f"sha256:{rng.randbytes(32).hex()}".encode() for _ in range(rng.randint(0, 5))]
    checkpoints = rng.randbytes(rng.randint(0, 3000))
    args = (
        b"0.9",
        rng.choice([b"AWS SOCI CLI v0.2", b"x"]),
        rng.randint(0, 1 << 40),
        rng.randint(0, 1 << 40),
        entries,
        checkpoints,
        digests,
        len(digests) - 1,
        rng.choice([1, 2]),
    )
    ours = serialize_ztoc(
        version=args[0].decode(),
        build_tool_identifier=args[1].decode(),
        compressed_archive_size=args[2],
        uncompressed_archive_size=args[3],
        entries=entries,
        checkpoints=checkpoints,
        span_digests=[d.decode() for d in digests],
        max_span_id=args[7],
        algorithm=args[8],
    )
    assert ours == reference(*args)


@pytest.mark.parametrize("seed", range(10))
def test_repetitive_entries_same_bytes(seed: int) -> None:
    """Real layers repeat shapes and strings: the template path must match entry by entry."""
    rng = random.Random(100 + seed)
    pool = [random_entry(rng) for _ in range(6)]
    entries = []
    for i in range(rng.randint(50, 400)):
        e = copy.copy(rng.choice(pool))
        e.name = rng.randbytes(rng.randint(0, 12))
        e.uncompressed_offset = rng.choice([0, 512 * i, 1 << 34])
        e.uncompressed_size = rng.choice([0, rng.randint(1, 5000)])
        e.mod_time = rng.choice(
            [b"", b"2023-11-14T22:13:20Z", f"2023-11-14T22:13:{i % 60:02d}Z".encode()]
        )
        entries.append(e)
    ours = serialize_ztoc(
        version="0.9",
        build_tool_identifier="AWS SOCI CLI v0.2",
        compressed_archive_size=123,
        uncompressed_archive_size=456,
        entries=entries,
        checkpoints=b"cp",
        span_digests=["sha256:" + "0" * 64],
        max_span_id=0,
        algorithm=1,
    )
    args = (b"0.9", b"AWS SOCI CLI v0.2", 123, 456, entries, b"cp", [b"sha256:" + b"0" * 64], 0, 1)
    assert ours == reference(*args)


def test_upstream_write_ztoc_golden() -> None:
    """ztoc/ztoc_test.go TestWriteZtoc (notes 1a)."""
    zero = FileMetadata(
        name=b"",
        type=b"",
        uncompressed_offset=0,
        uncompressed_size=0,
        linkname=b"",
        mode=0,
        uid=0,
        gid=0,
        uname=b"",
        gname=b"",
        mod_time=b"0001-01-01T00:00:00Z",
        devmajor=0,
        devminor=0,
        xattrs=[],
    )
    data = serialize_ztoc(
        version="0.9",
        build_tool_identifier="AWS SOCI CLI",
        compressed_archive_size=2000000,
        uncompressed_archive_size=2500000,
        entries=[zero, zero],
        checkpoints=bytes(65536),
        span_digests=[],
        max_span_id=3,
        algorithm=1,
    )
    assert len(data) == 65928
    assert hashlib.sha256(data).hexdigest() == (
        "eba28fdf50b1b57543f57dd051b2468c1d4f57b64d2006c75aa4de1d03e6c7ec"
    )


def test_tar_zinfo_layout() -> None:
    blob = serialize_tar_zinfo(span_size=65536, size=1341440)
    assert len(blob) == 48
    assert blob[0:4] == (20).to_bytes(4, "little")
    assert blob[44:48] == (2).to_bytes(4, "little")

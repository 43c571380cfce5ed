"""The tar TOC follows Go's archive/tar on generated layers, hostile ones included."""

from __future__ import annotations

import datetime
import io
import random
import time

import pytest

from soci_ci.errors import LayerError
from soci_ci.soci.tar_fields import format_mod_time
from soci_ci.soci.tar_spans import PlainScanner
from soci_ci.soci.tar_toc import FileMetadata, read_toc
from soci_ci.soci.ztoc import Compression, build_ztoc
from tests.support.layers import Entry, base256, build_tar, gz


def toc(data: bytes) -> tuple[list[FileMetadata], int]:
    result = read_toc(PlainScanner(io.BytesIO(data), 1 << 22))
    return result.entries, result.end_offset


def test_offsets_sizes_and_end_marker() -> None:
    built = build_tar(
        [
            Entry(name=b"dir/", typeflag=b"5", mode=0o755),
            Entry(name=b"dir/a.txt", data=b"hello\n" * 100),
            Entry(name=b"dir/link", typeflag=b"2", linkname=b"a.txt"),
            Entry(name=b"dir/hard", typeflag=b"1", linkname=b"dir/a.txt"),
        ],
        record_pad=7168,
    )
    entries, end = toc(built.data)
    assert [e.uncompressed_offset for e in entries] == built.offsets
    assert [e.type for e in entries] == [b"dir", b"reg", b"symlink", b"hardlink"]
    assert entries[1].uncompressed_size == 600
    assert entries[2].linkname == b"a.txt"
    assert end == built.end  # record padding after the marker is not counted


def test_names_are_verbatim_and_prefix_joined() -> None:
    entries, _ = toc(
        build_tar(
            [
                Entry(name=b"./x/"),
                Entry(name=b"file", prefix=b"deep/prefix"),
                Entry(name=b"caf\xe9-not-utf8"),
            ]
        ).data
    )
    assert [e.name for e in entries] == [b"./x/", b"deep/prefix/file", b"caf\xe9-not-utf8"]
    assert entries[0].type == b"reg"  # typeflag '0' wins over the trailing slash


def test_nul_typeflag_with_slash_is_a_directory() -> None:
    entries, _ = toc(
        build_tar([Entry(name=b"d/", typeflag=b"\x00"), Entry(name=b"f", typeflag=b"\x00")]).data
    )
    assert [e.type for e in entries] == [b"dir", b"reg"]


def test_pax_records_become_xattrs_and_override_fields() -> None:
    long_name = b"p/" + b"n" * 300
    built = build_tar(
        [
            Entry(
                name=b"short",
                data=b"x" * 10,
                pax={
                    b"path": long_name,
                    b"mtime": b"1700000000.123456789",
                    b"uid": b"70000",
                    b"SCHILY.xattr.user.k": b"v\x00\xff",
                    b"empty": b"",
                    b"uname": b"someone",
                },
            )
        ]
    )
    (e,), _ = toc(built.data)
    assert e.name == long_name
    assert e.uid == 70000
    assert e.uname == b"someone"
    assert e.mod_time == b"2023-11-14T22:13:20.123456789Z"
    assert e.xattrs == sorted(
        [
            (b"path", long_name),
            (b"mtime", b"1700000000.123456789"),
            (b"uid", b"70000"),
            (b"SCHILY.xattr.user.k", b"v\x00\xff"),
            (b"empty", b""),
            (b"uname", b"someone"),
        ]
    )
    assert e.uncompressed_offset == built.offsets[0]


def test_gnu_long_name_and_link() -> None:
    name, link = b"a/" * 200 + b"file", b"t/" * 150 + b"target"
    built = build_tar(
        [
            Entry(
                name=b"trunc",
                typeflag=b"2",
                gnu_long_name=name,
                gnu_long_link=link,
                magic=b"ustar  \x00",
            )
        ]
    )
    (e,), _ = toc(built.data)
    assert (e.name, e.linkname, e.xattrs) == (name, link, [])
    assert e.uncompressed_offset == built.offsets[0]


def test_base256_numbers_and_negative_ids_wrap() -> None:
    (e,), _ = toc(
        build_tar(
            [
                Entry(
                    name=b"big-ids",
                    raw_fields={"uid": base256(5_000_000_000, 8), "gid": base256(-2, 8)},
                )
            ]
        ).data
    )
    assert e.uid == 5_000_000_000 & 0xFFFFFFFF
    assert e.gid == (-2) & 0xFFFFFFFF


def test_v7_header_has_no_user_names() -> None:
    (e,), _ = toc(build_tar([Entry(name=b"old", magic=b"")]).data)
    assert (e.uname, e.gname) == (b"", b"")


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, b"1970-01-01T00:00:00Z"),
        (1_700_000_000_100_000_000, b"2023-11-14T22:13:20.1Z"),
        (-1, b"1969-12-31T23:59:59.999999999Z"),
        (253402300800 * 10**9, b""),  # year 10000: Go's MarshalText fails, soci stores ""
        (-62135596800 * 10**9, b"0001-01-01T00:00:00Z"),
    ],
)
def test_mod_time_format(nanos: int, text: bytes) -> None:
    assert format_mod_time(nanos) == text


def test_mod_time_matches_datetime_on_random_times() -> None:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    rng = random.Random(7)
    for _ in range(3000):
        secs = rng.randint(-62135596800, 253402300799)
        frac = rng.choice([0, 0, rng.randint(1, 10**9 - 1), rng.randint(1, 999) * 10**6])
        moment = epoch + datetime.timedelta(seconds=secs, microseconds=frac // 1000)
        text = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
        if frac:
            text += "." + f"{frac:09d}".rstrip("0")
        assert format_mod_time(secs * 10**9 + frac) == (text + "Z").encode(), secs


def test_end_without_marker_and_after_one_zero_block() -> None:
    for blocks in (0, 1):
        built = build_tar([Entry(name=b"f", data=b"abc")], end_blocks=blocks)
        entries, end = toc(built.data)
        assert len(entries) == 1
        assert end == len(built.data)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([Entry(name=b"g", typeflag=b"g", data=b"")], "unsupported input tar entry 'g'"),
        ([Entry(name=b"s", typeflag=b"S")], "unsupported input tar entry 'S'"),
        ([Entry(name=b"c", typeflag=b"7")], "unsupported input tar entry '7'"),
        ([Entry(name=b"v", typeflag=b"V")], "unsupported input tar entry 'V'"),
        ([Entry(name=b"bad", bad_checksum=True)], "checksum"),
        ([Entry(name=b"x", raw_fields={"mode": b"12z4"})], "invalid tar header"),
        ([Entry(name=b"neg", raw_fields={"size": base256(-5, 12)})], "negative size"),
        ([Entry(name=b"sp", pax={b"GNU.sparse.major": b"1", b"GNU.sparse.minor": b"0"})], "sparse"),
    ],
)
def test_rejected_entries(entries: list[Entry], message: str) -> None:
    with pytest.raises(LayerError, match=message):
        toc(build_tar(entries).data)


def test_malformed_pax_record_is_an_error() -> None:
    g = build_tar([Entry(name=b"p", typeflag=b"x", data=b"18 comment=hello\n")], end_blocks=0)
    with pytest.raises(LayerError, match="invalid PAX"):
        toc(g.data + build_tar([Entry(name=b"f")]).data)


def test_pax_global_header_is_an_error_even_with_records() -> None:
    built = build_tar([Entry(name=b"f")])
    g = build_tar(
        [Entry(name=b"pax_global", typeflag=b"g", data=b"17 comment=hello\n")], end_blocks=0
    )
    with pytest.raises(LayerError, match="'g'"):
        toc(g.data + built.data)


def test_zero_block_then_data_is_an_error() -> None:
    data = build_tar([Entry(name=b"f")], end_blocks=0).data
    with pytest.raises(LayerError, match="zero block followed"):
        toc(data + bytes(512) + build_tar([Entry(name=b"g")]).data)


def test_header_claiming_a_terabyte_fails_fast_without_allocating() -> None:
    data = build_tar(
        [Entry(name=b"huge", raw_fields={"size": base256(1 << 40, 12)})], end_blocks=0
    ).data
    start = time.monotonic()
    with pytest.raises(LayerError, match="ends inside an entry"):
        build_ztoc(io.BytesIO(gz(data + b"x" * 4096)), compression=Compression.GZIP)
    assert time.monotonic() - start < 2


def test_pax_header_larger_than_one_mib_is_refused() -> None:
    with pytest.raises(LayerError, match="1 MiB"):
        toc(build_tar([Entry(name=b"f", pax={b"comment": b"z" * (1 << 20)})]).data)


def test_very_long_gnu_name_within_limit_works() -> None:
    name = b"n" * 500_000
    (e,), _ = toc(build_tar([Entry(name=b"x", gnu_long_name=name, magic=b"ustar  \x00")]).data)
    assert e.name == name


def test_truncated_header_is_an_error() -> None:
    data = build_tar([Entry(name=b"f", data=b"a" * 600)]).data
    with pytest.raises(LayerError):
        toc(data[: 512 + 100])
    # Go: the stream may end inside an entry's padding (a clean end of archive) ...
    entries, end = toc(data[:1300])
    assert (len(entries), end) == (1, 1300)
    # ... but not inside the next header.
    two = build_tar([Entry(name=b"f", data=b"a" * 600), Entry(name=b"g")]).data
    with pytest.raises(LayerError, match="inside a header"):
        toc(two[: 1536 + 100])


def test_hundred_thousand_entries() -> None:
    built = build_tar([Entry(name=f"f/{i}".encode(), data=b"") for i in range(100_000)])
    start = time.monotonic()
    layer = build_ztoc(io.BytesIO(gz(built.data, level=1)), compression=Compression.GZIP)
    assert layer.entry_count == 100_000
    assert time.monotonic() - start < 30

"""Fuzz the parsers of untrusted bytes: tar, PAX, gzip, zTOC/zinfo flatbuffers, manifests, archives.

Inputs are random bytes and mutations of valid inputs (bit flips, truncation, spliced
garbage). Each parser may only fail with its documented error (`LayerError`/`InputError`,
both exit 3); any other exception type is a bug (exit 70). Bounded for CI: a fixed number
of examples per parser, no deadline (the machine is shared), about 30 s in all.
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soci_ci.errors import InputError
from soci_ci.oci.archive import open_archive
from soci_ci.oci.manifest import Descriptor, Index, Manifest, detect_media_type, load_json
from soci_ci.soci.tar_fields import _HeaderError, _parse_pax_records
from soci_ci.soci.tar_toc import read_toc
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import parse_checkpoints, parse_tar_zinfo, parse_ztoc
from soci_ci.soci.ztoc_writer import serialize_tar_zinfo
from tests.support import hostile as h
from tests.support.layers import Entry, build_tar, gz

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

SEED_TAR = build_tar(
    [
        Entry(name=b"dir/", typeflag=b"5"),
        Entry(name=b"dir/file", data=b"hello" * 300, pax={b"mtime": b"1.5", b"path": b"p"}),
        Entry(name=b"link", typeflag=b"2", linkname=b"dir/file"),
        Entry(name=b"long", gnu_long_name=b"x" * 300, data=b"d"),
    ]
).data
SEED_GZ = gz(SEED_TAR)
SEED_ZTOC = build_ztoc(io.BytesIO(SEED_GZ), compression=Compression.GZIP, span_size=512).data
SEED_PAX = h.pax_record(b"path", b"a/b") + h.pax_record(b"mtime", b"12.5") + b"7 a=bc\n"


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few byte changes, a cut, or a spliced random piece."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    choice = draw(st.integers(0, 3))
    if choice == 1 and data:
        data = data[: draw(st.integers(0, len(data)))]
    elif choice == 2:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=600))
    return bytes(data)


def _fix_checksums(data: bytes) -> bytes:
    """Recompute the checksum of every block that looks like a ustar header, so mutations
    reach the field parsers instead of stopping at the checksum."""
    out = bytearray(data)
    for at in range(0, len(out) - 511, 512):
        if out[at + 257 : at + 262] == b"ustar":
            out[at + 148 : at + 156] = b" " * 8
            out[at + 148 : at + 156] = b"%06o\x00 " % sum(out[at : at + 512])
    return bytes(out)


class _Stream:
    def __init__(self, data: bytes) -> None:
        self._fh = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._fh.read(n)

    def skip(self, n: int) -> int:
        return len(self._fh.read(n))


@FUZZ
@given(
    st.one_of(st.binary(max_size=3000), mutated(SEED_TAR), mutated(SEED_TAR).map(_fix_checksums))
)
def test_tar_reader_only_raises_layer_errors(data: bytes) -> None:
    with contextlib.suppress(InputError):
        read_toc(_Stream(data))


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated(SEED_PAX)))
def test_pax_records_only_raise_header_errors(data: bytes) -> None:
    with contextlib.suppress(_HeaderError):
        _parse_pax_records(data)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=2000),
        mutated(SEED_GZ),
        mutated(SEED_TAR).map(_fix_checksums),
        mutated(SEED_TAR).map(_fix_checksums).map(gz),
    )
)
def test_ztoc_build_only_raises_layer_errors(data: bytes) -> None:
    compression = Compression.GZIP if data[:2] == b"\x1f\x8b" else Compression.UNCOMPRESSED
    with contextlib.suppress(InputError):
        build_ztoc(io.BytesIO(data), compression=compression, span_size=256)


@FUZZ
@given(st.one_of(st.binary(max_size=1000), mutated(SEED_ZTOC)))
def test_ztoc_reader_only_raises_input_errors(data: bytes) -> None:
    try:
        parsed = parse_ztoc(data)
        if parsed.algorithm == 1:
            parse_checkpoints(parsed.checkpoints_blob)
        else:
            parse_tar_zinfo(parsed.checkpoints_blob)
    except InputError:
        pass


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        mutated(serialize_tar_zinfo(span_size=4096, size=10000)),
        mutated(b"\x01\x00\x00\x00" + bytes(8) + bytes(17 + 32768)),
    )
)
def test_zinfo_readers_only_raise_input_errors(data: bytes) -> None:
    for parse in (parse_checkpoints, parse_tar_zinfo):
        with contextlib.suppress(InputError):
            parse(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "schemaVersion",
                    "mediaType",
                    "config",
                    "layers",
                    "manifests",
                    "digest",
                    "size",
                    "annotations",
                    "platform",
                    "subject",
                    "urls",
                    "artifactType",
                    "os",
                    "architecture",
                    "os.features",
                    "data",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
SEED_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "x", "digest": "sha256:" + "a" * 64, "size": 2},
        "layers": [
            {
                "mediaType": "y",
                "digest": "sha256:" + "b" * 64,
                "size": 3,
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
).encode()


@FUZZ
@given(st.one_of(_JSON.map(lambda v: json.dumps(v).encode()), mutated(SEED_MANIFEST)))
def test_manifest_parsers_only_raise_input_errors(data: bytes) -> None:
    for parse in (Manifest.from_json, Index.from_json, Descriptor.from_json):
        with contextlib.suppress(InputError):
            parse(load_json(data, "doc"))
    with contextlib.suppress(InputError):
        detect_media_type(data, None)


def _seed_archive(tmp: Path) -> bytes:
    root = tmp / "seed"
    h.make_layout(root, SEED_GZ)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


@pytest.fixture(scope="module")
def seed_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _seed_archive(tmp_path_factory.mktemp("archive"))


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_archive_reader_only_raises_input_errors(
    data: st.DataObject, seed_archive: bytes, tmp_path: Path
) -> None:
    raw = data.draw(st.one_of(mutated(seed_archive), mutated(gz(seed_archive))))
    path = tmp_path / "fuzz.tar"
    path.write_bytes(raw)
    try:
        with open_archive(path, None) as layout:
            layout.resolve()
    except InputError:
        pass

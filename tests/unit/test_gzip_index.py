"""Checkpoints and spans of gzip layers: chunking, members, headers, corrupt input."""

from __future__ import annotations

import gzip
import io
import itertools
import random
import subprocess
import zlib

import pytest

from soci_ci.errors import LayerError
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.verify import BlobReader, verify_layer
from soci_ci.soci.zlib_binding import Inflater, load_inflater
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import parse_checkpoints, parse_ztoc
from tests.support.layers import Entry, build_tar, gz, gz_members, zlib_stream


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out at most `step` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(self._step, len(buf), len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def sample_tar(files: int = 40, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    entries = []
    for i in range(files):
        if i % 3 == 0:
            data = rng.randbytes(rng.randint(1, 90_000))
        else:
            data = (f"line {i} " * rng.randint(10, 9000)).encode()
        entries.append(Entry(name=f"d/file{i}".encode(), data=data))
    return build_tar(entries).data


def ztoc(data: bytes, inflater: Inflater, span: int = 65536, step: int | None = None) -> bytes:
    stream = Trickle(data, step) if step else io.BytesIO(data)
    return build_ztoc(
        stream,
        compression=Compression.GZIP,
        span_size=span,
        inflater=inflater,
    ).data


def verify_bytes(layer: bytes, ztoc_bytes: bytes, inflater: Inflater) -> None:
    desc = Descriptor(
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        digest=sha256_digest(layer),  # verify alone checks it against the ranges it read
        size=len(layer),
    )
    reader = BlobReader(open_stream=lambda: io.BytesIO(layer), read_range=lambda a, b: layer[a:b])
    check = verify_layer(desc, ztoc_bytes, "z", reader, sample=None, inflater=inflater)
    assert check.problems == []
    assert check.files and all(f.ok for f in check.files)


def test_chunking_does_not_move_checkpoints(inflater: Inflater) -> None:
    layer = gz(sample_tar())
    reference = ztoc(layer, inflater)
    for step in (1, 7, 1000, 65536):
        assert ztoc(layer, inflater, step=step) == reference


def test_checkpoints_every_span_and_lazy_reads_work(inflater: Inflater) -> None:
    layer = gz(sample_tar())
    data = ztoc(layer, inflater, span=65536)
    z = parse_ztoc(data)
    _, cps = parse_checkpoints(z.checkpoints_blob)
    assert cps[0].in_offset == 10 and cps[0].out_offset == 0 and cps[0].bits == 0
    outs = [c.out_offset for c in cps]
    assert all(b - a > 65536 for a, b in itertools.pairwise(outs))
    assert len(z.span_digests) == len(cps) > 5
    verify_bytes(layer, data, inflater)


def test_concatenated_members_are_read_through(inflater: Inflater) -> None:
    tar = sample_tar()
    layer = gz_members(tar, 5)
    data = ztoc(layer, inflater, span=65536)
    z = parse_ztoc(data)
    assert z.uncompressed_archive_size == len(tar)
    verify_bytes(layer, data, inflater)


def test_fname_header_moves_the_first_checkpoint(inflater: Inflater) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="layer.tar", mode="wb", fileobj=buf, mtime=1) as fh:
        fh.write(sample_tar(3))
    z = parse_ztoc(ztoc(buf.getvalue(), inflater))
    _, cps = parse_checkpoints(z.checkpoints_blob)
    assert cps[0].in_offset == 10 + len("layer.tar") + 1


def test_zlib_wrapped_stream_is_accepted_like_upstream(inflater: Inflater) -> None:
    z = parse_ztoc(ztoc(zlib_stream(sample_tar(3)), inflater))
    assert len(z.entries) == 3


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[: len(b) // 2], "truncated gzip"),
        (lambda b: b + bytes(1024), "gzip error: -3"),
        (lambda b: b + b"garbage!", "gzip error: -3"),
        (lambda b: b[:200] + bytes(reversed(b[200:4000])) + b[4000:], "gzip"),
        (lambda b: b[:-4] + b"\x00\x00\x00\x01", "gzip error"),  # wrong ISIZE
        (lambda b: b"", "empty layer"),
    ],
)
def test_corrupt_gzip_is_a_clean_error(mangle, message: str, inflater: Inflater) -> None:  # type: ignore[no-untyped-def]
    layer = mangle(gz(sample_tar(10)))
    with pytest.raises(LayerError, match=message):
        ztoc(layer, inflater)


def test_inflate_backend_is_chosen_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from soci_ci.cli import main

    assert load_inflater("zlib").name.startswith("zlib 1.")
    assert load_inflater("auto").name.startswith("zlib-ng 2.")  # a pinned dependency
    assert load_inflater().name.startswith("zlib-ng 2.")  # auto, when nothing is chosen
    monkeypatch.setenv("SOCI_CI_INFLATE", "zlib")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "(inflate: zlib 1." in capsys.readouterr().out
    monkeypatch.setenv("SOCI_CI_INFLATE", "fastest")
    assert main(["--version"]) == 2
    assert (
        "SOCI_CI_INFLATE='fastest': expected one of auto, zlib-ng, zlib" in capsys.readouterr().err
    )


def test_lazy_reads_fetch_one_range_per_span_and_hold_one_span(inflater: Inflater) -> None:
    """A file over many spans and three gzip members: one request per span, exactly its
    spans' bytes, no read larger than a span (the file is never held whole)."""
    rng = random.Random(11)
    big = rng.randbytes(700_000)  # about eleven 64 KiB spans, incompressible
    tar = build_tar([Entry(name=b"small", data=b"x" * 100), Entry(name=b"big", data=big)]).data
    layer = gz_members(tar, 3)  # the file crosses three member boundaries
    ztoc_bytes = ztoc(layer, inflater, span=65536)
    z = parse_ztoc(ztoc_bytes)
    _, cps = parse_checkpoints(z.checkpoints_blob)
    reads: list[int] = []

    def read_range(a: int, b: int) -> bytes:
        reads.append(b - a)
        return layer[a:b]

    desc = Descriptor(
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        digest=sha256_digest(layer),  # verify alone checks it against the ranges it read
        size=len(layer),
    )
    reader = BlobReader(open_stream=lambda: io.BytesIO(layer), read_range=read_range)
    check = verify_layer(desc, ztoc_bytes, "z", reader, sample=None, inflater=inflater)
    assert check.problems == [] and all(f.ok for f in check.files)
    entry = next(e for e in z.entries if e.name == b"big")
    end = entry.uncompressed_offset + entry.uncompressed_size
    outs = [c.out_offset for c in cps] + [z.uncompressed_archive_size]
    touched = [
        k for k in range(len(cps)) if outs[k] < end and outs[k + 1] > entry.uncompressed_offset
    ]
    ins = [c.in_offset for c in cps] + [len(layer)]
    big_check = next(f for f in check.files if f.name == "big")
    assert big_check.requests == len(touched) > 8
    assert big_check.fetched == ins[touched[-1] + 1] - ins[touched[0]]
    assert max(reads) <= max(b - a for a, b in itertools.pairwise(ins)) + 1


def _flushed(data: bytes, level: int, every: int, mode: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    parts = []
    for i in range(0, len(data), every):
        parts += [c.compress(data[i : i + every]), c.flush(mode)]
    return b"".join([*parts, c.flush(zlib.Z_FINISH)])


@pytest.mark.parametrize(
    "compressor",
    ["gzip -1", "gzip -9", "busybox gzip", "sync flush", "full flush", "stored"],
)
def test_zlib_ng_and_zlib_give_the_same_ztoc(compressor: str) -> None:
    """Checkpoints depend on the deflate stream only: both inflate libraries must agree on
    streams from other compressors and flush styles too (the vectors cover the official
    tool's own)."""
    tar = sample_tar(25, seed=3)
    if compressor.startswith(("gzip", "busybox")):
        layer = subprocess.run(
            [*compressor.split(), "-c", *(["-n"] if compressor.startswith("gzip") else [])],
            input=tar,
            capture_output=True,
            check=True,
        ).stdout
    else:
        mode = {"sync flush": zlib.Z_SYNC_FLUSH, "full flush": zlib.Z_FULL_FLUSH}
        layer = _flushed(tar, 0 if compressor == "stored" else 6, 40_000, mode.get(compressor, 0))
    built = {}
    for backend in ("zlib", "zlib-ng"):
        chosen = load_inflater(backend)
        built[backend] = [ztoc(layer, chosen, span=span) for span in (4096, 65536)]
    assert built["zlib"] == built["zlib-ng"]

"""One read per layer: the zTOC build's record, the one-pass lazy read, and what breaks them."""

from __future__ import annotations

import io
import random
import zlib
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import BinaryIO

import pytest

from soci_ci.limits import CHAIN_MAX_SPAN
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.layer_record import ContentDigest, LayerRecord, LayerRecorder
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.verify import BlobReader, LayerCheck, verify_layer
from soci_ci.soci.zlib_binding import Inflater
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import ParsedZtoc, parse_ztoc
from soci_ci.soci.ztoc_writer import serialize_ztoc
from tests.support.layers import Entry, build_tar, gz

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"


def tar_bytes() -> bytes:
    rnd = random.Random(7)
    entries = [Entry(name=f"small/{i}".encode(), data=rnd.randbytes(3000)) for i in range(40)]
    entries += [Entry(name=b"big.bin", data=rnd.randbytes(500_000) + b"x" * 400_000)]
    entries += [Entry(name=f"after/{i}".encode(), data=rnd.randbytes(20_000)) for i in range(8)]
    return build_tar(entries).data


class Reader:
    """A layer served from memory, counting what verify asks for."""

    def __init__(self, layer: bytes, *, serve: bytes | None = None) -> None:
        self.layer = layer
        self.serve = layer if serve is None else serve  # what Range requests answer
        self.streams = 0
        self.ranges: list[tuple[int, int]] = []

    def blob_reader(self) -> BlobReader:
        return BlobReader(open_stream=self.open, read_range=self.read_range)

    def open(self) -> AbstractContextManager[BinaryIO]:
        self.streams += 1
        return io.BytesIO(self.layer)

    def read_range(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return self.serve[start:end]


@pytest.fixture(params=list(ContentDigest))
def content(request: pytest.FixtureRequest) -> ContentDigest:
    """Each digest of a span's uncompressed bytes a record can keep: SHA-256 (verify's own
    sequential read) and CRC-32 (the index step's record of its own zTOC, as `run` uses)."""
    return ContentDigest(request.param)


def built(
    layer: bytes,
    inflater: Inflater,
    *,
    gzip: bool = True,
    span: int = 65536,
    content: ContentDigest = ContentDigest.SHA256,
) -> tuple[bytes, LayerRecord]:
    """The zTOC and the record of one build, as the index step keeps them."""
    recorder = LayerRecorder(content=content)
    z = build_ztoc(
        io.BytesIO(layer),
        compression=Compression.GZIP if gzip else Compression.UNCOMPRESSED,
        span_size=span,
        recorder=recorder,
        inflater=inflater,
    )
    return z.data, recorder.record(sha256_digest(layer), len(layer), z.data)


def own(record: LayerRecord, ztoc: bytes) -> LayerRecord:
    """The record as if its build had written `ztoc` (a builder bug): a CRC-32 record is the
    truth only for its own zTOC, so the corruption tests hand it the broken one as its own."""
    return replace(record, ztoc=ztoc)


def run(layer: bytes, ztoc: bytes, reader: Reader, inflater: Inflater, **kw: object) -> LayerCheck:
    desc = Descriptor(media_type=GZIP, digest=sha256_digest(layer), size=len(layer))
    return verify_layer(
        desc,
        ztoc,
        sha256_digest(ztoc),
        reader.blob_reader(),
        inflater=inflater,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "tar"])
def test_record_of_the_build_is_the_truth_verify_would_read(
    gzip: bool, inflater: Inflater, content: ContentDigest
) -> None:
    layer = gz(tar_bytes()) if gzip else tar_bytes()
    ztoc, record = built(layer, inflater, gzip=gzip, content=content)
    z = parse_ztoc(ztoc)
    regular = [e for e in z.entries if e.type == b"reg" and e.uncompressed_size]
    assert set(record.files) == {(e.uncompressed_offset, e.uncompressed_size) for e in regular}
    assert list(record.spans.values()) == z.span_digests
    alone = Reader(layer)
    check = run(layer, ztoc, alone, inflater, sample=None)
    assert check.ok, check.problems
    # Verify alone reads the layer once: its spans' Range reads, chained, are the truth.
    assert check.truth == "ranges" and alone.streams == 0
    fetched = sum(b - a for a, b in alone.ranges)
    assert len(layer) <= fetched <= len(layer) + check.spans + 64  # shared bytes, header twice
    assert check.range_bytes == fetched
    with_record = Reader(layer)
    check = run(layer, ztoc, with_record, inflater, sample=None, record=record)
    assert check.ok, check.problems
    assert check.truth == "record" and with_record.streams == 0  # no second download
    assert len(check.files) == len(regular)


def test_each_span_is_read_once_with_one_range_request(
    inflater: Inflater, content: ContentDigest
) -> None:
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    reader = Reader(layer)
    check = run(layer, ztoc, reader, inflater, sample=None, record=record)
    assert check.ok, check.problems
    header, *spans = reader.ranges
    assert header[0] == 0  # the gzip header before span 0, as the snapshotter reads it
    assert len(spans) == check.spans == len(set(spans)) > 5
    assert check.range_requests == len(reader.ranges)
    assert check.range_bytes == sum(b - a for a, b in reader.ranges)
    # Costs come from the zTOC: the big file crosses spans, small files cost one span.
    big = next(f for f in check.files if f.name == "big.bin")
    assert big.requests > 1 and big.fetched > 65536
    assert all(f.requests >= 1 and 0 < f.fetched <= len(layer) for f in check.files)
    assert 0 < check.lazy_median <= check.lazy_p90 <= len(layer)


def test_sample_and_working_set_fetch_only_their_spans(
    inflater: Inflater, content: ContentDigest
) -> None:
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    reader = Reader(layer)
    check = run(layer, ztoc, reader, inflater, sample=2, seed=1, record=record)
    assert check.ok and len(check.files) == 2
    needed = sum(f.requests for f in check.files)
    assert len(reader.ranges) - 1 <= needed < check.spans
    reader = Reader(layer)
    paths = ["/after/3", "small/0", "./small/1", "/not/there"]
    check = run(layer, ztoc, reader, inflater, sample=None, record=record, paths=paths)
    assert check.ok, check.problems
    assert sorted(f.name for f in check.files) == ["after/3", "small/0", "small/1"]


def test_a_range_serving_other_bytes_is_caught(inflater: Inflater, content: ContentDigest) -> None:
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    z = parse_ztoc(ztoc)
    start = len(layer) // 2
    served = (
        layer[:start] + bytes(b ^ 0x55 for b in layer[start : start + 64]) + layer[start + 64 :]
    )
    for kw in ({"record": record}, {}):  # with this run's record and reading the layer
        check = run(layer, ztoc, Reader(layer, serve=served), inflater, sample=None, **kw)
        assert any("gave other bytes than the layer" in p for p in check.problems), check.problems
        assert not check.ok
    assert len(z.span_digests) > 3


def test_corrupted_checkpoint_window_is_caught(inflater: Inflater, content: ContentDigest) -> None:
    rnd = random.Random(3)
    words = [rnd.randbytes(6).hex() for _ in range(300)]
    text = [
        Entry(name=f"t{i}".encode(), data=" ".join(rnd.choices(words, k=15000)).encode())
        for i in range(8)
    ]
    layer = gz(build_tar(text).data)
    ztoc, record = built(layer, inflater, content=content)
    blob = parse_ztoc(ztoc).checkpoints_blob
    at = ztoc.find(blob) + 12 + 32785 + 17  # the window of checkpoint 1
    broken = ztoc[:at] + bytes(b ^ 0x20 for b in ztoc[at : at + 32768]) + ztoc[at + 32768 :]
    check = run(layer, broken, Reader(layer), inflater, sample=None, record=own(record, broken))
    assert any("lazily read bytes differ" in p or "inflate" in p for p in check.problems)
    assert check.truth == "record"  # span ranges and files unchanged: no second download


def test_shifted_toc_offsets_are_caught(inflater: Inflater, content: ContentDigest) -> None:
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    z = parse_ztoc(ztoc)
    entries = list(z.entries)
    k = next(i for i, e in enumerate(entries) if e.name == b"after/2")
    entries[k] = replace(entries[k], uncompressed_offset=entries[k].uncompressed_offset + 1)
    shifted = serialize_ztoc(
        version=z.version,
        build_tool_identifier=z.build_tool_identifier,
        compressed_archive_size=z.compressed_archive_size,
        uncompressed_archive_size=z.uncompressed_archive_size,
        entries=entries,
        checkpoints=z.checkpoints_blob,
        span_digests=z.span_digests,
        max_span_id=z.max_span_id,
        algorithm=z.algorithm,
    )
    reader = Reader(layer)
    check = run(layer, shifted, reader, inflater, sample=None, record=own(record, shifted))
    assert [p for p in check.problems if "after/2" in p], check.problems
    assert not next(f for f in check.files if f.name == "after/2").ok
    # The record places every regular file of the layer: no second download to know that
    # no file starts there.
    assert reader.streams == 0
    alone = run(layer, shifted, Reader(layer), inflater, sample=None)
    assert [p for p in alone.problems if "after/2" in p], alone.problems


def test_wrong_span_digest_with_record(inflater: Inflater, content: ContentDigest) -> None:
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    at = ztoc.find(b"sha256:") + 7
    broken = ztoc[:at] + (b"0" if ztoc[at : at + 1] != b"0" else b"1") + ztoc[at + 1 :]
    check = run(layer, broken, Reader(layer), inflater, sample=None, record=own(record, broken))
    assert any("digest mismatch" in p for p in check.problems)


def test_working_set_follows_links_inside_the_layer(
    inflater: Inflater, content: ContentDigest
) -> None:
    rnd = random.Random(5)
    entries = [
        Entry(name=b"app/bin/server", data=rnd.randbytes(9000)),
        Entry(name=b"app/current", data=b"", typeflag=b"2", linkname=b"bin/server"),
        Entry(name=b"usr/lib/abs", data=b"", typeflag=b"2", linkname=b"/app/current"),
        Entry(name=b"app/hard", data=b"", typeflag=b"1", linkname=b"app/bin/server"),
        Entry(name=b"app/other", data=rnd.randbytes(9000)),
    ]
    layer = gz(build_tar(entries).data)
    ztoc, record = built(layer, inflater, content=content)
    for path in ("/app/current", "usr/lib/abs", "/app/hard", "/app/bin/server"):
        check = run(layer, ztoc, Reader(layer), inflater, sample=None, record=record, paths=[path])
        assert [f.name for f in check.files] == ["app/bin/server"], path
        assert check.ok


def _with_entries(z: ParsedZtoc, entries: list[FileMetadata], checkpoints: bytes) -> bytes:
    return serialize_ztoc(
        version=z.version,
        build_tool_identifier=z.build_tool_identifier,
        compressed_archive_size=z.compressed_archive_size,
        uncompressed_archive_size=z.uncompressed_archive_size,
        entries=entries,
        checkpoints=checkpoints,
        span_digests=z.span_digests,
        max_span_id=z.max_span_id,
        algorithm=z.algorithm,
    )


def test_wrong_file_size_in_toc_is_caught(inflater: Inflater, content: ContentDigest) -> None:
    """A file's bytes are proved by its spans' digests plus its place in the sequential tar
    parse: a TOC entry with the right offset but another size is not a file of the layer."""
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    z = parse_ztoc(ztoc)
    entries = list(z.entries)
    k = next(i for i, e in enumerate(entries) if e.name == b"small/5")
    entries[k] = replace(entries[k], uncompressed_size=entries[k].uncompressed_size - 1)
    broken = _with_entries(z, entries, z.checkpoints_blob)
    for kw in ({"record": own(record, broken)}, {}):
        check = run(layer, broken, Reader(layer), inflater, sample=None, **kw)
        assert [p for p in check.problems if p.startswith("small/5:")], check.problems
        assert [f.name for f in check.files if not f.ok] == ["small/5"]


def test_shifted_checkpoint_output_offset_is_caught(
    inflater: Inflater, content: ContentDigest
) -> None:
    """A checkpoint that claims its bytes start elsewhere in the tar: the span's lazily read
    bytes are compared with the sequential read's bytes at the claimed place, and differ."""
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=content)
    z = parse_ztoc(ztoc)
    blob = bytearray(z.checkpoints_blob)
    at = 12 + 32785 + 8  # out_offset of checkpoint 1
    out = int.from_bytes(blob[at : at + 8], "little")
    blob[at : at + 8] = (out + 512).to_bytes(8, "little")
    broken = _with_entries(z, list(z.entries), bytes(blob))
    for kw in ({"record": own(record, broken)}, {}):
        check = run(layer, broken, Reader(layer), inflater, sample=None, **kw)
        # span 0 now ends 512 bytes later than its compressed bytes reach; span 1 starts there
        assert any("span 0: span range ended" in p for p in check.problems), check.problems
        assert any(p.startswith("span 1: lazily read bytes differ") for p in check.problems)
        assert not check.ok


def _with_sizes(z: ParsedZtoc, checkpoints: bytes, *, uncompressed: int) -> bytes:
    return serialize_ztoc(
        version=z.version,
        build_tool_identifier=z.build_tool_identifier,
        compressed_archive_size=z.compressed_archive_size,
        uncompressed_archive_size=uncompressed,
        entries=list(z.entries),
        checkpoints=checkpoints,
        span_digests=z.span_digests,
        max_span_id=z.max_span_id,
        algorithm=z.algorithm,
    )


def test_chain_catches_a_window_that_changes_no_output(inflater: Inflater) -> None:
    """Random file data deflates to literals only: a wrong window in checkpoint 1 leaves the
    inflated bytes unchanged, but the chain sees that it is not the layer's window."""
    layer = gz(tar_bytes())
    ztoc, _ = built(layer, inflater)
    blob = parse_ztoc(ztoc).checkpoints_blob
    at = ztoc.find(blob) + 12 + 32785 + 17  # the window of checkpoint 1
    broken = ztoc[:at] + bytes(b ^ 0x20 for b in ztoc[at : at + 32768]) + ztoc[at + 32768 :]
    check = run(layer, broken, Reader(layer), inflater, sample=None)
    assert any(
        "span 0: the window it leaves differs from checkpoint 1" in p for p in check.problems
    )
    assert not check.ok
    assert check.truth == "layer"  # the diagnosis read the layer, on failure only


def test_chain_catches_a_range_answer_altered_inside_one_span(inflater: Inflater) -> None:
    layer = gz(tar_bytes())
    ztoc, _ = built(layer, inflater)
    z = parse_ztoc(ztoc)
    blob = z.checkpoints_blob
    in2 = int.from_bytes(blob[12 + 2 * 32785 : 12 + 2 * 32785 + 8], "little")
    at = in2 + 700  # inside span 2, in stored random data
    served = layer[:at] + bytes([layer[at] ^ 1]) + layer[at + 1 :]
    check = run(layer, ztoc, Reader(layer, serve=served), inflater, sample=None)
    assert any("is not the layer" in p or p.startswith("span 2:") for p in check.problems)
    assert any("span 2: a Range read" in p for p in check.problems), check.problems
    assert not check.ok


@pytest.mark.parametrize("delta", [-1, 1], ids=["truncated", "extended"])
def test_chain_catches_a_last_span_of_the_wrong_length(delta: int, inflater: Inflater) -> None:
    layer = gz(tar_bytes())
    ztoc, _ = built(layer, inflater)
    z = parse_ztoc(ztoc)
    broken = _with_sizes(z, z.checkpoints_blob, uncompressed=z.uncompressed_archive_size + delta)
    check = run(layer, broken, Reader(layer), inflater, sample=None)
    size = z.uncompressed_archive_size
    wrong = f"uncompressed_archive_size {size + delta} != {size}, where the layer's tar ends"
    # Past the tar's end blocks the last span cannot reach; else the tar ends elsewhere.
    last = f"span {z.max_span_id}: the range ends with a gzip member after"
    assert wrong in check.problems or check.problems[0].startswith(last), check.problems
    assert not check.ok


def test_spans_too_big_to_hold_are_verified_by_the_sequential_read(inflater: Inflater) -> None:
    """A zTOC's span sizes do not bound verify's memory: spans over CHAIN_MAX_SPAN are not
    held (chained) but checked against one sequential read, as with a sample."""
    rnd = random.Random(3)
    data = rnd.randbytes(CHAIN_MAX_SPAN + (1 << 20))
    layer = gz(build_tar([Entry(name=b"huge.bin", data=data), Entry(name=b"x", data=b"y")]).data)
    ztoc, _ = built(layer, inflater, span=1 << 30)  # one span: the whole layer
    assert len(parse_ztoc(ztoc).span_digests) == 1
    alone = Reader(layer)
    check = run(layer, ztoc, alone, inflater, sample=None)
    assert check.ok, check.problems
    assert check.truth == "layer" and alone.streams == 1
    small, _ = built(layer, inflater)  # 64 KiB spans: chained, no sequential read
    again = Reader(layer)
    check = run(layer, small, again, inflater, sample=None)
    assert check.ok, check.problems
    assert check.truth == "ranges" and again.streams == 0


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "tar"])
def test_a_crc_record_holds_the_crc_of_each_span_of_the_tar(gzip: bool, inflater: Inflater) -> None:
    tar = tar_bytes()
    layer = gz(tar) if gzip else tar
    ztoc, record = built(layer, inflater, gzip=gzip, content=ContentDigest.CRC32)
    assert record.content is ContentDigest.CRC32 and record.ztoc == ztoc
    z = parse_ztoc(ztoc)
    assert len(record.contents) == len(z.span_digests) > 5
    for (start, end), digest in record.contents.items():  # against Python's own zlib
        assert digest == zlib.crc32(tar[start:end]).to_bytes(4, "big"), (start, end)
    assert max(end for _, end in record.contents) == len(tar)


def test_a_crc_record_is_not_the_truth_for_another_ztoc(inflater: Inflater) -> None:
    """A zTOC other than the record's own (one read from the registry) could carry windows
    chosen to make a CRC-32 collide: the record is set aside and verify reads as if it had
    none, so the wrong window is still caught."""
    layer = gz(tar_bytes())
    ztoc, record = built(layer, inflater, content=ContentDigest.CRC32)
    fine = run(layer, ztoc, Reader(layer), inflater, sample=None, record=record)
    assert fine.ok and fine.truth == "record"
    blob = parse_ztoc(ztoc).checkpoints_blob
    at = ztoc.find(blob) + 12 + 32785 + 17  # the window of checkpoint 1
    other = ztoc[:at] + bytes(b ^ 0x20 for b in ztoc[at : at + 32768]) + ztoc[at + 32768 :]
    reader = Reader(layer)
    check = run(layer, other, reader, inflater, sample=None, record=record)
    assert check.truth != "record" and not check.ok
    assert any("window it leaves differs from checkpoint 1" in p for p in check.problems)
    # A sample (no chain): the sequential read, with SHA-256, is the truth.
    sampled = run(layer, other, Reader(layer), inflater, sample=3, record=record)
    assert sampled.truth == "layer"
    assert not record.usable_with(other) and record.usable_with(ztoc)
    assert replace(record, content=ContentDigest.SHA256).usable_with(other)

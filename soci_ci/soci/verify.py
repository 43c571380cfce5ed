"""Check a SOCI index the way the snapshotter will use it (notes 1f), then prove lazy reads.

Structural rules: index config media type, zTOC decodes, compression algorithm, checkpoint
blob length, `max_span_id` against the checkpoints, one digest per span, strictly increasing
spans (all but the last), a gzip header in front of span 0, TOC entries that do not overlap.
The truth is one sequential read of the layer (`LayerRecord`: the digest of each span's
compressed bytes and of its uncompressed bytes, and where the regular files are): the record
the zTOC builder kept when `run` indexed the layer in the same process, else one streaming
read here, at the same time as the lazy reads. The zTOC's span digests are compared with it;
then each span the checked files need is read once, from its checkpoint, through one Range
request (soci/lazy_read.py). A checked file reads correctly lazily when its TOC entry is a
regular file of the sequential tar parse (same offset and size) and every span it touches
gave, inflated from its checkpoint, exactly the uncompressed bytes of the sequential read
(one digest per span proves all the files and pieces of files in it: SHA-256, or CRC-32 for
the record's own zTOC, `LayerRecord.usable_with`). So a run reads a layer once for index +
verify plus the spans. `verify` alone, when every file is checked,
reads the layer once: its spans' Range reads, chained from checkpoint to checkpoint, are the
layer's stream and so the truth (soci/chain_read.py); only a sample (some spans), or a broken
chain (to tell what is wrong), adds the sequential read.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from soci_ci.errors import InputError, LayerError
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.chain_read import chain_fits, chain_pass
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.layer_record import LayerRecord, LayerRecorder, SpanTap
from soci_ci.soci.lazy_read import Cost, PassResult, file_costs, lazy_pass, needed_spans
from soci_ci.soci.span_reader import gzip_header_length
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.zlib_binding import Inflater
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import (
    ALGORITHM_GZIP,
    ALGORITHM_UNCOMPRESSED,
    ParsedZtoc,
    parse_checkpoints,
    parse_tar_zinfo,
    parse_ztoc,
)

HEADER_ONLY = {b"hardlink", b"symlink", b"char", b"block", b"dir", b"fifo"}
SEQUENTIAL_SPAN = 1 << 62  # the sequential read keeps no checkpoint of its own
MAX_LINK_HOPS = 8  # links followed from a working-set path to a file of the same layer


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    c_start: int
    c_end: int
    u_start: int
    u_end: int
    digest: str
    checkpoint: Checkpoint | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileCheck:
    name: str
    size: int
    fetched: int  # compressed bytes a lazy reader fetches for this file
    requests: int
    ok: bool


@dataclass(slots=True, kw_only=True)
class LayerCheck:
    layer: str
    layer_size: int
    ztoc: str
    spans: int = 0
    files_total: int = 0
    problems: list[str] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    # What a lazy start costs per regular file (all of them, from the zTOC), in bytes.
    lazy_median: float = 0.0
    lazy_p90: float = 0.0
    costs: list[int] = field(default_factory=list, repr=False)  # per regular file, bytes
    # "record" (index's read in this run), "ranges" (the spans' Range reads, chained: verify
    # alone) or "layer" (a sequential read here: a sample, or the diagnosis of a broken chain)
    truth: str = ""
    sequential_bytes: int = 0  # bytes of the layer read sequentially by verify
    range_bytes: int = 0  # compressed bytes read by Range requests (lazy reads, gzip header)
    range_requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.files)


@dataclass(frozen=True, slots=True, kw_only=True)
class LazyStartSummary:
    """What SOCI gains on this image, from verify alone (no AWS needed): the PR comment's
    figures. Fetch sizes are per regular file of the indexed layers, computed from the zTOCs:
    the compressed bytes a lazy start fetches to read that file."""

    image: str  # the SOCI-enabled image to deploy
    digest: str
    layers_indexed: int
    layers_skipped: int
    files: int
    median_fetch: float
    p90_fetch: float
    indexed_bytes: int  # compressed size of the indexed layers
    image_bytes: int  # compressed size of all the image's layers
    baseline_image_bytes: int | None = None  # the base branch's, when a baseline has it

    @classmethod
    def from_json(cls, obj: Any) -> LazyStartSummary | None:
        """From `soci-ci verify --output-json` (its `image`, `digest` and `summary`)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("summary"), dict):
            return None
        s = obj["summary"]
        try:
            return cls(
                image=str(obj["image"]),
                digest=str(obj["digest"]),
                layers_indexed=int(s["layers_indexed"]),
                layers_skipped=int(s["layers_skipped"]),
                files=int(s["files"]),
                median_fetch=float(s["lazy_fetch_median"]),
                p90_fetch=float(s["lazy_fetch_p90"]),
                indexed_bytes=int(s["indexed_bytes"]),
                image_bytes=int(s["image_bytes"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def image_bytes_change(self) -> int | None:
        if self.baseline_image_bytes is None:
            return None
        return self.image_bytes - self.baseline_image_bytes


class BlobReader:
    """What verify needs from an image source for one layer."""

    def __init__(
        self,
        open_stream: Callable[[], AbstractContextManager[BinaryIO]],
        read_range: Callable[[int, int], bytes],
        check_size: Callable[[], None] | None = None,
    ) -> None:
        self.open_stream = open_stream
        self.read_range = read_range
        # Raises when the blob is not the descriptor's size, for a source that can tell
        # without reading it (a layout's file); a read by ranges alone would not see bytes
        # past the end.
        self.check_size = check_size


def _spans_gzip(z: ParsedZtoc, layer_size: int, check: LayerCheck) -> list[Span]:
    try:
        _, cps = parse_checkpoints(z.checkpoints_blob)
    except InputError as exc:
        check.problems.append(str(exc))
        return []
    if z.max_span_id != len(cps) - 1:
        check.problems.append(f"max_span_id {z.max_span_id} does not match {len(cps)} checkpoints")
    spans = []
    for i, cp in enumerate(cps):
        last = i == len(cps) - 1
        spans.append(
            Span(
                c_start=cp.in_offset - (1 if cp.bits else 0),
                c_end=layer_size if last else cps[i + 1].in_offset,
                u_start=cp.out_offset,
                u_end=z.uncompressed_archive_size if last else cps[i + 1].out_offset,
                digest=z.span_digests[i] if i < len(z.span_digests) else "",
                checkpoint=cp,
            )
        )
    return spans


def _spans_tar(z: ParsedZtoc, layer_size: int, check: LayerCheck) -> list[Span]:
    info = parse_tar_zinfo(z.checkpoints_blob)
    if info.span_size <= 0:
        check.problems.append(f"TarZinfo span size {info.span_size} is not positive")
        return []
    if info.size != layer_size:
        check.problems.append(f"TarZinfo size {info.size} != layer size {layer_size}")
    count = -(-info.size // info.span_size)
    if z.max_span_id != count - 1:
        check.problems.append(
            f"max_span_id {z.max_span_id} != {count - 1} for a tar of {info.size} bytes"
        )
    return [
        Span(
            c_start=i * info.span_size,
            c_end=min((i + 1) * info.span_size, info.size),
            u_start=i * info.span_size,
            u_end=min((i + 1) * info.span_size, z.uncompressed_archive_size),
            digest=z.span_digests[i] if i < len(z.span_digests) else "",
            checkpoint=None,
        )
        for i in range(count)
    ]


def check_structure(
    z: ParsedZtoc, layer_size: int, reader: BlobReader, check: LayerCheck
) -> list[Span]:
    if z.compressed_archive_size != layer_size:
        check.problems.append(
            f"compressed_archive_size {z.compressed_archive_size} != layer size {layer_size}"
        )
    if z.algorithm == ALGORITHM_GZIP:
        spans = _spans_gzip(z, layer_size, check)
    elif z.algorithm == ALGORITHM_UNCOMPRESSED:
        spans = _spans_tar(z, layer_size, check)
    else:
        check.problems.append(f"unknown compression algorithm {z.algorithm}")
        return []
    check.spans = len(spans)
    if len(z.span_digests) != z.max_span_id + 1:
        check.problems.append(f"{len(z.span_digests)} span digests for max_span_id {z.max_span_id}")
    for i, s in enumerate(spans[:-1]):
        if not (s.c_start < s.c_end and s.u_start < s.u_end):
            check.problems.append(
                f"span {i} is empty or not increasing (compressed {s.c_start}-{s.c_end}, "
                f"uncompressed {s.u_start}-{s.u_end}): the snapshotter rejects this index "
                "(ErrNonMonotonicCheckpoints)"
            )
    if z.algorithm == ALGORITHM_GZIP and spans:
        head = reader.read_range(0, spans[0].c_start)
        try:
            if gzip_header_length(head) > len(head):
                raise InputError("gzip header longer than the bytes before span 0")
        except InputError as exc:
            check.problems.append(f"bytes before span 0: {exc}")
    prev_end = 0
    for e in sorted(z.entries, key=lambda e: e.uncompressed_offset):
        if e.uncompressed_offset < prev_end:
            check.problems.append(
                f"TOC entry {_name(e)} at offset {e.uncompressed_offset} overlaps the previous "
                f"entry (ends at {prev_end}): ErrInvalidTOCEntry"
            )
        size = 0 if e.type in HEADER_ONLY else e.uncompressed_size
        prev_end = e.uncompressed_offset + size + (-size % 512)
    for i, s in enumerate(spans):
        if s.c_end < s.c_start or s.c_end > layer_size:
            check.problems.append(
                f"span {i} compressed range {s.c_start}-{s.c_end} is outside the layer"
            )
    return spans


def _name(e: FileMetadata) -> str:
    return e.name.decode("utf-8", "replace")


def check_span_digests(spans: list[Span], truth: LayerRecord, check: LayerCheck) -> None:
    """Compare the zTOC's span digests with the layer's bytes (as the sequential read saw them)."""
    for i, span in enumerate(spans):
        actual = truth.spans.get((span.c_start, span.c_end))
        if actual != span.digest:
            check.problems.append(
                f"span {i} digest mismatch: zTOC {span.digest or '(none)'}, layer {actual}"
            )


def read_layer(
    reader: BlobReader,
    layer: Descriptor,
    gzip: bool,
    spans: list[Span],
    *,
    wanted: AbstractSet[int] | None,
    inflater: Inflater,
) -> LayerRecord:
    """One streaming read of the layer: the digests of the zTOC's spans, compressed and (for
    the `wanted` spans, default all) uncompressed, and where the regular files are.

    The bytes go through the zTOC builder's own reader (bounded memory whatever the layer
    decompresses to); its zTOC is dropped. A layer that stops decompressing is still read to
    the end, so every span digest is known.
    """
    recorder = LayerRecorder([s.u_start for s in spans], wanted)
    error = None
    with reader.open_stream() as stream:
        tap = SpanTap(stream, [(s.c_start, s.c_end) for s in spans])
        try:
            build_ztoc(
                tap,
                compression=Compression.GZIP if gzip else Compression.UNCOMPRESSED,
                span_size=SEQUENTIAL_SPAN,
                build_tool_identifier="soci-ci verify",
                recorder=recorder,
                inflater=inflater,
                hash_spans=False,  # the zTOC's spans are hashed by the tap
            )
        except LayerError as exc:
            error = exc.message
        tap.drain()
    return replace(recorder.record(layer.digest, layer.size), spans=tap.digests(), error=error)


def _fits(record: LayerRecord | None, spans: list[Span], needed: list[int]) -> bool:
    """Does the record of this run's zTOC build describe these spans?"""
    if record is None:
        return False
    return all((s.c_start, s.c_end) in record.spans for s in spans) and all(
        (spans[k].u_start, spans[k].u_end) in record.contents for k in needed
    )


def _clean(name: bytes) -> str:
    """The path the snapshotter gives an entry (`filepath.Clean("/" + name)`)."""
    return os.path.normpath("/" + name.decode("utf-8", "surrogateescape")).replace("//", "/")


def choose_files(
    entries: list[FileMetadata],
    files: list[FileMetadata],
    *,
    sample: int | None,
    seed: int,
    paths: Sequence[str] | None,
) -> list[FileMetadata]:
    """The files to read lazily: a startup working set, a sample, or all of them."""
    if paths is not None:
        by_name = {_clean(e.name): e for e in files}
        links: dict[str, str] = {}
        for e in entries:
            if e.type == b"hardlink":
                links[_clean(e.name)] = _clean(e.linkname)
            elif e.type == b"symlink":  # relative to the link's directory, or absolute
                base = str(PurePosixPath(_clean(e.name)).parent).encode()
                target = e.linkname if e.linkname.startswith(b"/") else base + b"/" + e.linkname
                links[_clean(e.name)] = _clean(target)
        chosen: dict[int, FileMetadata] = {}
        for p in paths:
            name = os.path.normpath("/" + p).replace("//", "/")
            for _ in range(MAX_LINK_HOPS):  # links inside this layer (the app reads targets)
                if name in by_name or name not in links:
                    break
                name = links[name]
            if name in by_name:
                chosen[id(by_name[name])] = by_name[name]
        return sorted(chosen.values(), key=lambda e: e.uncompressed_offset)
    if sample is not None and sample < len(files):
        return sorted(
            random.Random(seed).sample(files, sample), key=lambda e: e.uncompressed_offset
        )
    return files


def quantile(values: list[int], q: float) -> float:
    """The q-quantile (0.5: median, 0.9: p90), interpolated as `statistics.quantiles`."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1])


def verify_layer(
    layer: Descriptor,
    ztoc_bytes: bytes,
    ztoc_digest: str,
    reader: BlobReader,
    *,
    sample: int | None,
    seed: int = 0,
    record: LayerRecord | None = None,
    paths: Sequence[str] | None = None,
    inflater: Inflater,
) -> LayerCheck:
    """Check one layer's zTOC; `record` is this run's sequential read (else the layer is read),
    `paths` the files to read lazily (a startup working set), else `sample` or all files."""
    check = LayerCheck(layer=layer.digest, layer_size=layer.size, ztoc=ztoc_digest)
    try:
        z = parse_ztoc(ztoc_bytes)
    except InputError as exc:
        check.problems.append(str(exc))
        return check
    spans = check_structure(z, layer.size, reader, check)
    if spans and z.algorithm == ALGORITHM_GZIP:
        check.range_bytes, check.range_requests = spans[0].c_start, 1
    files = [e for e in z.entries if e.type == b"reg" and e.uncompressed_size > 0]
    check.files_total = len(files)
    if not spans or check.problems:
        return check
    all_costs = file_costs(spans, files)
    check.costs = sorted(c.fetched for c in all_costs)
    check.lazy_median, check.lazy_p90 = quantile(check.costs, 0.5), quantile(check.costs, 0.9)
    chosen = choose_files(z.entries, files, sample=sample, seed=seed, paths=paths)
    costs = file_costs(spans, chosen)
    needed = needed_spans(costs)
    if record is not None and not record.usable_with(ztoc_bytes):
        record = None  # a CRC-32 record proves only its own zTOC: read as if there were none
    chain = None
    if (
        record is None
        and (len(chosen) == len(files) or len(needed) == len(spans))
        and chain_fits(spans)
    ):
        # Every file (so nearly every span) and no record: the spans' Range reads are the only
        # read of the layer, proven to be its stream by the chain of checkpoints
        # (soci/chain_read.py).
        if reader.check_size is not None:
            reader.check_size()
        chain = chain_pass(
            reader, spans, layer_digest=layer.digest, layer_size=layer.size, inflater=inflater
        )
    if chain is not None and chain.record is not None:
        truth, check.truth, result = chain.record, "ranges", chain.result
    elif _fits(record, spans, needed):
        assert record is not None
        truth, check.truth = record, "record"
        result = lazy_pass(reader, spans, needed, inflater, record.content)
    else:
        # Today's path: no record, a sample of the spans, or (diagnosis) a broken chain.
        if chain is not None:
            check.range_bytes += chain.result.fetched
            check.range_requests += chain.result.requests
        # No record from this run: read the layer here, while the lazy reads go on (the
        # comparison waits for both; the network and both cores are busy at once).
        with ThreadPoolExecutor(max_workers=1) as pool:
            gzip = z.algorithm == ALGORITHM_GZIP
            sequential = pool.submit(
                read_layer, reader, layer, gzip, spans, wanted=set(needed), inflater=inflater
            )
            result = lazy_pass(reader, spans, needed, inflater)
            truth = sequential.result()
        check.truth, check.sequential_bytes = "layer", layer.size
    check.range_bytes += result.fetched
    check.range_requests += result.requests
    _compare(spans, chosen=chosen, costs=costs, result=result, truth=truth, check=check)
    if chain is not None:  # a broken chain, then what the sequential read tells of it
        check.problems[:0] = chain.problems
    return check


def _compare(
    spans: list[Span],
    *,
    chosen: list[FileMetadata],
    costs: list[Cost],
    result: PassResult,
    truth: LayerRecord,
    check: LayerCheck,
) -> None:
    check_span_digests(spans, truth, check)
    if truth.error is not None:
        check.problems.append(f"the layer does not decompress: {truth.error}")
    if check.problems:
        return
    bad = _compare_spans(spans, result, truth, check)
    for e, cost in zip(chosen, costs, strict=True):
        check.files.append(_file_check(e, cost, bad=bad, truth=truth, check=check))


def _compare_spans(
    spans: list[Span], result: PassResult, truth: LayerRecord, check: LayerCheck
) -> dict[int, str]:
    """Each lazily read span against the sequential read; the spans that failed, and why."""
    bad: dict[int, str] = {}
    for k, why in sorted(result.errors.items()):
        bad[k] = f"span {k}: {why}"
    for k, actual in sorted(result.ranges.items()):
        span = spans[k]
        expected = truth.spans.get((span.c_start, span.c_end))
        if actual != expected:
            bad[k] = (
                f"span {k}: a Range read of bytes {span.c_start}-{span.c_end} gave other bytes "
                f"than the layer ({actual}, layer {expected})"
            )
            check.problems.append(bad[k])
        elif result.contents[k] != truth.contents.get((span.u_start, span.u_end)):
            bad[k] = (
                f"span {k}: lazily read bytes differ from the layer's (uncompressed "
                f"{span.u_start}-{span.u_end}, inflated from its checkpoint)"
            )
            check.problems.append(bad[k])
    return bad


def _file_check(
    e: FileMetadata, cost: Cost, *, bad: dict[int, str], truth: LayerRecord, check: LayerCheck
) -> FileCheck:
    """A file reads correctly lazily when the sequential tar parse has a regular file at its
    TOC offset with its size, and every span it touches read correctly."""
    failed = [k for k in range(cost.first, cost.last + 1) if k in bad]
    placed = (e.uncompressed_offset, e.uncompressed_size) in truth.files
    if not placed:
        check.problems.append(
            f"{_name(e)}: lazily read bytes differ from the layer's: no regular file of the "
            f"layer starts at offset {e.uncompressed_offset} with {e.uncompressed_size} bytes"
        )
    elif failed:
        check.problems.append(f"{_name(e)}: {bad[failed[0]]}")
    return FileCheck(
        name=_name(e),
        size=e.uncompressed_size,
        fetched=cost.fetched,
        requests=cost.requests,
        ok=placed and not failed,
    )

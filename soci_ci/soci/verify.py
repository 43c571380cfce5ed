"""Check a SOCI index the way the snapshotter will use it (notes 1f), then prove lazy reads.

Structural rules: index config media type, zTOC decodes, compression algorithm, checkpoint
blob length, `max_span_id` against the checkpoints, one digest per span, strictly increasing
spans (all but the last), a gzip header in front of span 0, TOC entries that do not overlap.
Then one sequential read of the whole layer gives the span digests (compared with the zTOC's)
and the truth for every regular file (or a sample); each of those files is then read using
only its spans' compressed bytes and checkpoint, one range request per span, and compared.
So a registry layer is downloaded once, plus what the lazy reads fetch. Works on any
`ImageSource`.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO

from soci_ci.errors import InputError
from soci_ci.oci.manifest import Descriptor
from soci_ci.soci.gzip_index import Checkpoint
from soci_ci.soci.span_reader import gzip_header_length, hash_from_checkpoint
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.ztoc_reader import (
    ALGORITHM_GZIP,
    ALGORITHM_UNCOMPRESSED,
    ParsedZtoc,
    parse_checkpoints,
    parse_tar_zinfo,
    parse_ztoc,
)

HEADER_ONLY = {b"hardlink", b"symlink", b"char", b"block", b"dir", b"fifo"}
LAZY_READ_WORKERS = 8  # files read lazily at once


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

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.files)


class BlobReader:
    """What verify needs from an image source for one layer."""

    def __init__(
        self,
        open_stream: Callable[[], AbstractContextManager[BinaryIO]],
        read_range: Callable[[int, int], bytes],
    ) -> None:
        self.open_stream = open_stream
        self.read_range = read_range


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


def check_span_digests(spans: list[Span], digests: list[str], check: LayerCheck) -> None:
    """Compare the span digests computed while the layer streamed by with the zTOC's."""
    for i, (span, actual) in enumerate(zip(spans, digests, strict=True)):
        if actual != span.digest:
            check.problems.append(
                f"span {i} digest mismatch: zTOC {span.digest or '(none)'}, layer {actual}"
            )


def _name(e: FileMetadata) -> str:
    return e.name.decode("utf-8", "replace")


class _SpanHasher:
    """SHA-256 of each span's compressed bytes [c_start, c_end), fed the layer front to back
    (consecutive spans may share one byte: a non-zero `bits` starts a span a byte early)."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.hashers = [hashlib.sha256() for _ in spans]
        self.first = 0  # spans before this one are complete

    def update(self, at: int, raw: bytes) -> None:
        end = at + len(raw)
        k = self.first
        while k < len(self.spans) and self.spans[k].c_start < end:
            span = self.spans[k]
            lo, hi = max(span.c_start, at), min(span.c_end, end)
            if hi > lo:
                self.hashers[k].update(memoryview(raw)[lo - at : hi - at])
            if span.c_end <= end and k == self.first:
                self.first += 1
            k += 1

    def digests(self) -> list[str]:
        return ["sha256:" + h.hexdigest() for h in self.hashers]


@dataclass(frozen=True, slots=True, kw_only=True)
class SequentialRead:
    files: dict[int, str]  # uncompressed offset -> sha256 hex of the file's bytes
    span_digests: list[str]
    error: str | None  # the layer stopped decompressing (spans were still hashed)


def sequential_hashes(
    stream: BinaryIO, gzip: bool, files: list[FileMetadata], spans: list[Span]
) -> SequentialRead:
    """One pass over the whole layer, front to back: sha256 of each file's bytes, and the
    digest of each span's compressed bytes."""
    wanted = sorted(files, key=lambda e: e.uncompressed_offset)
    hashes: dict[int, hashlib._Hash] = {}
    span_hasher = _SpanHasher(spans)
    at = 0
    pos = 0
    k = 0
    active: list[FileMetadata] = []
    d = zlib.decompressobj(47) if gzip else None
    error = None
    while True:
        raw = stream.read(1 << 20)
        if not raw:
            break
        span_hasher.update(at, raw)
        at += len(raw)
        chunks = [raw]
        if gzip:
            chunks = []
            data = raw
            try:
                while data and d is not None:
                    chunks.append(d.decompress(data))
                    data = d.unused_data
                    if data:
                        d = zlib.decompressobj(47)
            except zlib.error as exc:
                error, d = str(exc), None  # keep reading: the span digests still count
        for chunk in chunks:
            end = pos + len(chunk)
            while k < len(wanted) and wanted[k].uncompressed_offset < end:
                active.append(wanted[k])
                k += 1
            still = []
            for e in active:
                lo = max(e.uncompressed_offset, pos)
                hi = min(e.uncompressed_offset + e.uncompressed_size, end)
                if hi > lo:
                    hashes.setdefault(e.uncompressed_offset, hashlib.sha256()).update(
                        chunk[lo - pos : hi - pos]
                    )
                if e.uncompressed_offset + e.uncompressed_size > end:
                    still.append(e)
            active = still
            pos = end
    return SequentialRead(
        files={off: h.hexdigest() for off, h in hashes.items()},
        span_digests=span_hasher.digests(),
        error=error,
    )


def lazy_read(reader: BlobReader, spans: list[Span], e: FileMetadata) -> tuple[str, int, int]:
    """The SHA-256 of the file's bytes read through its spans only, as a lazy loader reads
    them: one range request per span, inflated as it arrives (memory stays at one span).
    Returns (hex digest, compressed bytes fetched, requests)."""
    starts = [s.u_start for s in spans]
    off, size = e.uncompressed_offset, e.uncompressed_size
    i = max(bisect.bisect_right(starts, off) - 1, 0)
    j = max(bisect.bisect_right(starts, off + size - 1) - 1, i)
    fetched = [0, 0]  # bytes, requests

    def chunks() -> Iterator[bytes]:
        pos = spans[i].c_start
        for span in spans[i : j + 1]:
            if span.c_end > pos:  # spans overlap by the byte a non-zero `bits` needs
                data = reader.read_range(pos, span.c_end)
                fetched[0] += len(data)
                fetched[1] += 1
                pos = span.c_end
                yield data

    first = spans[i]
    if first.checkpoint is None:
        digest = _hash_slice(chunks(), off - first.u_start, size)
    else:
        digest = hash_from_checkpoint(chunks(), first.checkpoint, off - first.u_start, size)
    return digest, fetched[0], fetched[1]


def _hash_slice(chunks: Iterator[bytes], skip: int, length: int) -> str:
    """SHA-256 of bytes [skip, skip+length) of the concatenated chunks (uncompressed layers)."""
    hasher = hashlib.sha256()
    at = 0
    for chunk in chunks:
        lo, hi = max(skip - at, 0), min(skip + length - at, len(chunk))
        if hi > lo:
            hasher.update(memoryview(chunk)[lo:hi])
        at += len(chunk)
        if at >= skip + length:
            return hasher.hexdigest()
    raise InputError("span range ended before the file's last byte")


def verify_layer(
    layer: Descriptor,
    ztoc_bytes: bytes,
    ztoc_digest: str,
    reader: BlobReader,
    *,
    sample: int | None,
    seed: int = 0,
) -> LayerCheck:
    check = LayerCheck(layer=layer.digest, layer_size=layer.size, ztoc=ztoc_digest)
    try:
        z = parse_ztoc(ztoc_bytes)
    except InputError as exc:
        check.problems.append(str(exc))
        return check
    spans = check_structure(z, layer.size, reader, check)
    files = [e for e in z.entries if e.type == b"reg" and e.uncompressed_size > 0]
    check.files_total = len(files)
    if not spans or check.problems:
        return check
    chosen = files
    if sample is not None and sample < len(files):
        chosen = random.Random(seed).sample(files, sample)
    with reader.open_stream() as stream:
        read = sequential_hashes(stream, z.algorithm == ALGORITHM_GZIP, chosen, spans)
    check_span_digests(spans, read.span_digests, check)
    if read.error is not None:
        check.problems.append(f"the layer does not decompress: {read.error}")
    if check.problems:
        return check
    truth = read.files

    def one(e: FileMetadata) -> tuple[str | None, int, int, str | None]:
        try:
            return (*lazy_read(reader, spans, e), None)
        except InputError as exc:
            return None, 0, 0, str(exc)

    # Several files at once, as a lazy loader would: round trips overlap, and inflate
    # releases the GIL. Each read holds one span at a time.
    ordered = sorted(chosen, key=lambda e: e.uncompressed_offset)
    with ThreadPoolExecutor(max_workers=LAZY_READ_WORKERS) as pool:
        results = list(pool.map(one, ordered))
    for e, (digest, fetched, requests, error) in zip(ordered, results, strict=True):
        if error is not None:
            check.problems.append(f"{_name(e)}: {error}")
        ok = digest is not None and digest == truth.get(e.uncompressed_offset)
        check.files.append(
            FileCheck(
                name=_name(e), size=e.uncompressed_size, fetched=fetched, requests=requests, ok=ok
            )
        )
        if not ok:
            check.problems.append(f"{_name(e)}: lazily read bytes differ from the layer's")
    return check

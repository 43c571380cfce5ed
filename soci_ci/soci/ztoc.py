"""Build a zTOC for one layer blob, in one streaming pass (the public API of `soci_ci.soci`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from soci_ci.errors import LayerError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.soci.constants import DEFAULT_BUILD_TOOL, DEFAULT_SPAN_SIZE, ZTOC_VERSION
from soci_ci.soci.gzip_index import GzipScanner, LayerStream, zinfo_pieces
from soci_ci.soci.layer_record import (
    CheckpointOffsets,
    LayerRecorder,
    gzip_span_ranges,
    plain_span_ranges,
)
from soci_ci.soci.tar_spans import PlainScanner
from soci_ci.soci.tar_toc import TarStream, TarToc, read_toc
from soci_ci.soci.xattrs import xattrs_can_be_disabled
from soci_ci.soci.zlib_binding import Inflater, load_inflater
from soci_ci.soci.ztoc_writer import (
    ALGORITHM_GZIP,
    ALGORITHM_UNCOMPRESSED,
    serialize_tar_zinfo,
    serialize_ztoc,
)


class Compression(StrEnum):
    GZIP = "gzip"
    UNCOMPRESSED = "uncompressed"
    ZSTD = "zstd"
    UNKNOWN = "unknown"  # Docker rootfs.diff.tar: built exactly like uncompressed


class UnsupportedCompression(LayerError):
    """A layer SOCI cannot index (zstd); callers skip it with this reason."""

    default_hint = "rebuild the image with gzip layers (e.g. buildx --output compression=gzip)"


def compression_from_media_type(media_type: str) -> Compression | None:
    """containerd `DiffCompression`, as soci uses it; None when the layer is not indexable."""
    base, _, ext = media_type.partition("+")
    exts = ext.split("+") if ext else []
    if base in (mt.DOCKER_LAYER_TAR, "application/vnd.docker.image.rootfs.foreign.diff.tar"):
        return Compression.UNKNOWN if not exts else None
    if base in (mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER_FOREIGN):
        return Compression.GZIP if not exts else None
    if base == mt.DOCKER_LAYER_ZSTD:
        return Compression.ZSTD
    if base == mt.OCI_LAYER_TAR:
        if exts and exts[-1] == "gzip":
            return Compression.GZIP
        if exts and exts[-1] == "zstd":
            return Compression.ZSTD
        return Compression.UNCOMPRESSED
    if base == "application/vnd.oci.image.layer.nondistributable.v1.tar":
        if exts and exts[-1] == "gzip":
            return Compression.GZIP
        if exts and exts[-1] == "zstd":
            return Compression.ZSTD
        return None
    return None


def sniff_compression(head: bytes) -> Compression:
    if head[:2] == b"\x1f\x8b":
        return Compression.GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return Compression.ZSTD
    return Compression.UNCOMPRESSED


@dataclass(frozen=True, slots=True, kw_only=True)
class ZtocBuild:
    data: bytes = b""
    digest: str
    size: int
    span_count: int
    entry_count: int
    compressed_size: int
    uncompressed_size: int
    xattrs_can_be_disabled: bool  # soci_ci.soci.xattrs

    def __repr__(self) -> str:
        return f"ZtocBuild(digest={self.digest!r}, size={self.size}, spans={self.span_count})"


class _Counting:
    """Wraps a stream to report progress in compressed bytes."""

    def __init__(self, source: LayerStream, progress: Callable[[int], None]) -> None:
        self._source = source
        self._progress = progress
        self._done = 0

    def readinto(self, view: memoryview) -> int:
        n = _readinto(self._source, view)
        self._done += n
        self._progress(self._done)
        return n

    def read(self, n: int) -> bytes:
        data = self._source.read(n)
        self._done += len(data)
        self._progress(self._done)
        return data


def _readinto(source: LayerStream, view: memoryview) -> int:
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


def _read_toc(scanner: TarStream, recorder: LayerRecorder | None) -> TarToc:
    if recorder is None:
        return read_toc(scanner)
    try:
        return read_toc(recorder.tap(scanner), on_entry=recorder.entry)
    finally:
        recorder.finish()  # the last span ends where the tar does


def build_ztoc(
    stream: LayerStream,
    *,
    compression: Compression,
    span_size: int = DEFAULT_SPAN_SIZE,
    build_tool_identifier: str = DEFAULT_BUILD_TOOL,
    progress: Callable[[int], None] | None = None,
    recorder: LayerRecorder | None = None,
    inflater: Inflater | None = None,
    hash_spans: bool = True,
) -> ZtocBuild:
    """Read the layer once from `stream` and return the zTOC bytes upstream would write.

    A `recorder` also keeps what verify needs from this read (soci/layer_record.py); if it
    has no span cuts of its own, it cuts where this build places its checkpoints.
    `inflater`: the inflate implementation (None: `load_inflater("auto")`). Without
    `hash_spans` the span digests are left empty (a read that only needs the tar).
    """
    if span_size <= 0:
        raise LayerError(f"span size must be positive, got {span_size}")
    if compression is Compression.ZSTD:
        raise UnsupportedCompression(
            "zstd layers are not supported by SOCI (the official tool skips them)"
        )
    source: LayerStream = stream
    if progress is not None:
        source = _Counting(stream, progress)
    scanner: GzipScanner | PlainScanner
    if compression is Compression.GZIP:
        scanner = GzipScanner(
            source, span_size, inflater or load_inflater("auto"), hash_spans=hash_spans
        )
        if recorder is not None and not len(recorder.cuts):
            recorder.follow(CheckpointOffsets(scanner.checkpoints))
        try:
            toc = _read_toc(scanner, recorder)
            scanner.finish()
        finally:
            scanner.close()
        checkpoints: bytes | list[bytes] = zinfo_pieces(scanner.checkpoints, span_size)
        algorithm = ALGORITHM_GZIP
        span_count = len(scanner.checkpoints)
        size = scanner.compressed_size
    else:
        scanner = PlainScanner(source, span_size)
        if recorder is not None and not len(recorder.cuts):
            recorder.follow(range(0, 1 << 62, span_size))
        toc = _read_toc(scanner, recorder)
        scanner.finish()
        checkpoints = serialize_tar_zinfo(span_size=span_size, size=scanner.compressed_size)
        algorithm = ALGORITHM_UNCOMPRESSED
        size = scanner.compressed_size
        span_count = size // span_size + (1 if size % span_size else 0)
    digests = scanner.span_digests
    if len(digests) != span_count:
        raise LayerError(f"internal: {len(digests)} span digests for {span_count} spans")
    if recorder is not None:
        recorder.set_spans(
            gzip_span_ranges([(cp.in_offset, cp.bits) for cp in scanner.checkpoints], size)
            if isinstance(scanner, GzipScanner)
            else plain_span_ranges(span_size, size),
            digests,
        )
    data = serialize_ztoc(
        version=ZTOC_VERSION,
        build_tool_identifier=build_tool_identifier,
        compressed_archive_size=scanner.compressed_size,
        uncompressed_archive_size=toc.end_offset,
        entries=toc.entries,
        checkpoints=checkpoints,
        span_digests=digests,
        max_span_id=span_count - 1,
        algorithm=algorithm,
    )
    return ZtocBuild(
        data=data,
        digest=sha256_digest(data),
        size=len(data),
        span_count=span_count,
        entry_count=len(toc.entries),
        compressed_size=scanner.compressed_size,
        uncompressed_size=toc.end_offset,
        xattrs_can_be_disabled=xattrs_can_be_disabled(toc.entries),
    )

"""Build the zTOC of every selected layer, in parallel, while the layer streams in.

Each layer is read once, to the end: registry streams check their digest as the last byte
arrives (`VerifiedBlobReader`); any other source is hashed here and a mismatch is an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from soci_ci.app.index_model import IndexOptions, ZtocJob
from soci_ci.app.progress import ByteProgress
from soci_ci.errors import InputError, LayerError
from soci_ci.oci.hashing_reader import HashingReader
from soci_ci.oci.manifest import Descriptor
from soci_ci.oci.store import ImageSource, VerifiedBlobReader
from soci_ci.soci.layer_record import ContentDigest, LayerRecord, LayerRecorder
from soci_ci.soci.zlib_binding import load_inflater
from soci_ci.soci.ztoc import UnsupportedCompression, build_ztoc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltZtoc:
    """The zTOC of one layer and what its build measured."""

    layer: Descriptor  # the descriptor the layer was read by (the first that lists it)
    data: bytes
    digest: str
    spans: int
    files: int
    seconds: float
    disable_xattrs: bool  # the layer gets the xattr mark (`--optimizations xattr`)
    record: LayerRecord | None = None  # what verify needs (`record_for_verify`)

    @property
    def size(self) -> int:
        return len(self.data)


def build_ztocs(
    source: ImageSource, jobs: Mapping[str, ZtocJob], options: IndexOptions
) -> dict[str, BuiltZtoc]:
    """Layer digest -> its zTOC, built with up to `options.workers` threads."""
    if not jobs:
        return {}
    total = sum(job.layer.size for job in jobs.values())
    workers = max(1, min(options.workers, len(jobs)))
    log.info(
        "building %d zTOC(s) from %.1f MB of layers with %d worker(s)",
        len(jobs),
        total / 1e6,
        min(options.workers, len(jobs)),
    )
    progress = ByteProgress(total, "layers")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            digest: pool.submit(build_layer_ztoc, source, job, options, progress)
            for digest, job in jobs.items()
        }
        return {digest: future.result() for digest, future in futures.items()}


def build_layer_ztoc(
    source: ImageSource, job: ZtocJob, options: IndexOptions, progress: ByteProgress
) -> BuiltZtoc:
    """Stream one layer through the zTOC builder and check its digest."""
    layer = job.layer
    started = time.monotonic()
    with source.open_blob(layer.digest, layer.size) as raw:
        checked = isinstance(raw, VerifiedBlobReader)
        reader: HashingReader | BinaryIO = raw if checked else HashingReader(raw)
        # Verify checks this build's own zTOC against the record: CRC-32 suffices for the
        # uncompressed bytes (soci/layer_record.py says why).
        recorder = LayerRecorder(content=ContentDigest.CRC32) if options.record_for_verify else None
        try:
            built = build_ztoc(
                reader,
                compression=job.compression,
                span_size=options.span_size,
                build_tool_identifier=options.build_tool_identifier,
                progress=progress.counter(),
                recorder=recorder,
                inflater=load_inflater(options.inflate),
            )
        except UnsupportedCompression:
            raise
        except LayerError as exc:
            raise LayerError(f"layer {layer.digest}: {exc.message}", hint=exc.hint) from None
        while reader.read(1 << 20):  # to the end, so that the digest is checked
            pass
    if isinstance(reader, HashingReader) and (
        reader.digest != layer.digest or reader.size != layer.size
    ):
        raise InputError(
            f"layer {layer.digest} content does not match its descriptor "
            f"(got {reader.digest}, {reader.size} bytes)"
        )
    seconds = round(time.monotonic() - started, 3)
    log.info(
        "  indexed %s (%.1f MB): %d files, %d spans, zTOC %d bytes, %.2f s",
        layer.digest[:19],
        layer.size / 1e6,
        built.entry_count,
        built.span_count,
        built.size,
        seconds,
    )
    # The record is kept only now that the bytes it describes matched the layer digest.
    record = recorder.record(layer.digest, layer.size, built.data) if recorder else None
    return BuiltZtoc(
        layer=layer,
        data=built.data,
        digest=built.digest,
        spans=built.span_count,
        files=built.entry_count,
        seconds=seconds,
        disable_xattrs=options.optimize_xattrs and built.xattrs_can_be_disabled,
        record=record,
    )

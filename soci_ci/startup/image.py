"""The image side of `soci-ci startup`: its layers, their file lists and their zTOCs.

The zTOCs are the SOCI index's when the image has one (found as the snapshotter finds it, in
IMAGE or in `--soci-image`), else the ones `soci-ci index` would build with the same options
(its own plan, nothing written). Layers without a zTOC are read once for their file list
(as a zTOC built only to list them: the same tar reader), and count whole.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from soci_ci import limits
from soci_ci.app.index import build_plan, select_targets
from soci_ci.app.index_model import IndexOptions, TagReader, Target
from soci_ci.app.verify import find_indexes
from soci_ci.errors import InputError
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.hashing_reader import HashingReader
from soci_ci.oci.manifest import Descriptor, Manifest, Platform, load_json
from soci_ci.oci.store import ImageSource, read_blob
from soci_ci.soci import constants as c
from soci_ci.soci.tar_toc import FileMetadata
from soci_ci.soci.verify import BlobReader, LayerCheck, Span, check_structure
from soci_ci.soci.zlib_binding import Inflater, load_inflater
from soci_ci.soci.ztoc import (
    Compression,
    UnsupportedCompression,
    build_ztoc,
    compression_from_media_type,
)
from soci_ci.soci.ztoc_reader import parse_ztoc

log = logging.getLogger(__name__)

MAX_ZTOC_BYTES = limits.STARTUP_MAX_ZTOC_BYTES
MAX_CONFIG_BYTES = limits.STARTUP_MAX_CONFIG_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerInfo:
    descriptor: Descriptor
    entries: tuple[FileMetadata, ...]
    ztoc_digest: str | None = None  # None: no zTOC, pulled whole
    ztoc_size: int = 0
    spans: tuple[Span, ...] = ()
    note: str | None = None  # why there is no zTOC, or a problem with it


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageLayers:
    image: str
    manifest_digest: str
    platform: str
    diff_ids: tuple[str, ...]
    layers: tuple[LayerInfo, ...]
    ztoc_source: str  # "SOCI index <digest>" or "built like soci-ci index (not pushed)"
    soci_index_size: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _target(source: ImageSource, platform: Platform) -> Target:
    root = source.resolve()
    targets, _, _ = select_targets(source, root, [platform])
    return targets[0]


def _diff_ids(source: ImageSource, manifest: Manifest) -> tuple[str, ...]:
    cfg = load_json(
        read_blob(source, manifest.config.digest, manifest.config.size, limit=MAX_CONFIG_BYTES),
        "image config",
    )
    rootfs = cfg.get("rootfs") if isinstance(cfg, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError("image config has no rootfs.diff_ids list")
    return tuple(ids)


def _spans(source: ImageSource, layer: Descriptor, ztoc: bytes) -> tuple[list[Span], str | None]:
    check = LayerCheck(layer=layer.digest, layer_size=layer.size, ztoc="")
    reader = BlobReader(
        open_stream=lambda: source.open_blob(layer.digest, layer.size),
        read_range=lambda start, end: source.read_blob_range(layer.digest, start, end),
    )
    spans = check_structure(parse_ztoc(ztoc), layer.size, reader, check)
    return spans, "; ".join(check.problems) or None


def _list_files(
    source: ImageSource, layer: Descriptor, inflater: Inflater
) -> tuple[tuple[FileMetadata, ...], str]:
    """The entries of a layer without a zTOC (read once; a zTOC built only to list them, with
    the configured inflate implementation, as `soci-ci index` would)."""
    compression = compression_from_media_type(layer.media_type)
    if compression is None:
        raise InputError(f"layer {layer.digest} has unsupported media type {layer.media_type!r}")
    if compression is Compression.ZSTD:
        return (), "zstd: its files cannot be listed"
    with source.open_blob(layer.digest, layer.size) as raw:
        reader = HashingReader(raw)
        try:
            built = build_ztoc(reader, compression=compression, inflater=inflater)
        except UnsupportedCompression:
            return (), "its files cannot be listed"
        while reader.read(1 << 20):
            pass
    if reader.digest != layer.digest or reader.size != layer.size:
        raise InputError(f"layer {layer.digest} content does not match its descriptor")
    return tuple(parse_ztoc(built.data).entries), ""


def _soci_ztocs(
    source: ImageSource, tag_reader: TagReader | None, manifest: Manifest
) -> tuple[dict[str, Descriptor], str, int] | None:
    """zTOC descriptors by layer digest from the SOCI index of this manifest's layers."""
    try:
        found = find_indexes(source, tag_reader)
    except InputError:
        return None
    layers = [d.digest for d in manifest.layers or ()]
    for _, _, image, soci, _ in found:
        if [d.digest for d in image.layers or () if d.media_type != c.SOCI_PREFETCH] != layers:
            continue
        index = Manifest.from_json(load_json(soci.data, "SOCI index"), "SOCI index")
        ztocs = {}
        for desc in index.layers or ():
            layer = desc.annotation(c.ANNOTATION_IMAGE_LAYER_DIGEST)
            if layer and desc.media_type == c.ZTOC_MEDIA_TYPE:
                ztocs[layer] = desc
        return ztocs, soci.digest, len(soci.data)
    return None


def registry_diff_ids(source: ImageSource, platform: Platform) -> tuple[str, ...]:
    """The diff ids of the image's manifest for `platform` (its manifest and config only)."""
    return _diff_ids(source, _target(source, platform).manifest)


def load_layers(
    source: ImageSource,
    platform: Platform,
    options: IndexOptions,
    *,
    soci_source: ImageSource | None = None,
    soci_tags: TagReader | None = None,
) -> ImageLayers:
    target = _target(source, platform)
    manifest = target.manifest
    descriptors = [d for d in manifest.layers or () if d.media_type != c.SOCI_PREFETCH]
    found = _soci_ztocs(soci_source or source, soci_tags, manifest)
    ztoc_bytes: dict[str, bytes] = {}
    notes: dict[str, str] = {}
    index_size = 0
    if found is not None:
        ztocs, index_digest, index_size = found
        where = soci_source or source
        for layer, desc in ztocs.items():
            ztoc_bytes[layer] = read_blob(where, desc.digest, desc.size, limit=MAX_ZTOC_BYTES)
        ztoc_source = f"SOCI index {index_digest}"
    else:
        report = build_plan(source, replace(options, reuse=False))
        plan = {i.digest: i.data for i in (report.plan.items if report.plan else ())}
        for row in report.layers:
            if row.platform and row.platform != str(target.platform):
                continue
            if row.ztoc_digest and row.ztoc_digest in plan:
                ztoc_bytes[row.digest] = plan[row.ztoc_digest]
            elif row.skipped:
                notes[row.digest] = row.skipped
        index_size = 0
        ztoc_source = "built as `soci-ci index` would (nothing pushed)"

    def one(layer: Descriptor) -> LayerInfo:
        data = ztoc_bytes.get(layer.digest)
        if data is None:
            entries, problem = _list_files(source, layer, load_inflater(options.inflate))
            note = notes.get(layer.digest) or "no zTOC in the SOCI index"
            return LayerInfo(
                descriptor=layer, entries=entries, note=f"{note}; {problem}" if problem else note
            )
        spans, issue = _spans(source, layer, data)
        return LayerInfo(
            descriptor=layer,
            entries=tuple(parse_ztoc(data).entries),
            ztoc_digest=sha256_digest(data),
            ztoc_size=len(data),
            spans=tuple(spans),
            note=issue,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(descriptors) or 1))) as p:
        layers = tuple(p.map(one, descriptors))
    return ImageLayers(
        image=source.display_name,
        manifest_digest=target.image.digest,
        platform=str(target.platform),
        diff_ids=_diff_ids(source, manifest),
        layers=layers,
        ztoc_source=ztoc_source,
        soci_index_size=index_size,
    )

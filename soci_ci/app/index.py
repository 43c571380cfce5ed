"""`soci-ci index`: select layers, build zTOCs in parallel while streaming, write the SOCI index.

Source- and sink-agnostic: an OCI layout, an oci-archive or a registry all go through the
same plan, so the bytes written are identical wherever the image lives. The plan lists
children before parents (zTOCs and the `{}` config, SOCI index manifests, rewritten image
manifests, the image index) and tags last, so no tag ever points at an incomplete graph;
anything the destination already has is not written again. Before any layer is read, a
rerun looks for the index it would write (app/reuse.py) and stops there when it is complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from soci_ci.app.apply import UP_TO_DATE_MESSAGE
from soci_ci.app.index_model import (
    IndexOptions,
    IndexReport,
    LayerReport,
    LayerRows,
    Outcome,
    Plan,
    PlanItem,
    TagReader,
    Target,
)
from soci_ci.app.progress import ByteProgress
from soci_ci.app.reuse import Destination, Reused, find_reusable
from soci_ci.errors import InputError, LayerError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.hashing_reader import HashingReader
from soci_ci.oci.manifest import Descriptor, Index, Manifest, descriptor_for, load_json
from soci_ci.oci.platform import Platform
from soci_ci.oci.referrers import referrers_tag
from soci_ci.oci.store import Fetched, ImageSource, VerifiedBlobReader, read_blob
from soci_ci.soci import constants as c
from soci_ci.soci.convert import PlatformSoci, convert
from soci_ci.soci.index_manifest import (
    IndexFormat,
    ZtocRef,
    listed_soci_index,
    soci_index_format,
    soci_index_manifest,
)
from soci_ci.soci.layer_record import LayerRecord, LayerRecorder
from soci_ci.soci.zlib_binding import load_inflater
from soci_ci.soci.ztoc import (
    Compression,
    UnsupportedCompression,
    build_ztoc,
    compression_from_media_type,
)

log = logging.getLogger(__name__)


def _platform_from_config(source: ImageSource, manifest: Manifest) -> Platform:
    """The image's platform from its config, normalised (containerd `images.ConfigPlatform`)."""
    cfg = load_json(
        read_blob(source, manifest.config.digest, manifest.config.size, limit=4 << 20),
        "image config",
    )
    if not isinstance(cfg, dict):
        raise InputError("image config is not a JSON object")
    return Platform.from_json(cfg, "image config").normalized()


def _parse_manifest(fetched: Fetched, what: str) -> Manifest:
    return Manifest.from_json(load_json(fetched.data, what), what)


def _wanted(platform: Platform, platforms: Sequence[Platform]) -> Platform | None:
    """The first `--platform` that selects `platform` (strict match, as `soci convert`)."""
    return next((p for p in platforms if platform.matches(p)), None)


def _filtered_note(platforms: Sequence[Platform], left: list[str]) -> str:
    wanted = ", ".join(str(p) for p in platforms)
    return (
        f"--platform {wanted}: {len(left)} image manifest(s) not selected, kept unchanged "
        f"without a SOCI index: {', '.join(left)}"
    )


def select_targets(
    source: ImageSource, root: Fetched, platforms: Sequence[Platform]
) -> tuple[list[Target], Index | None, list[str]]:
    """The image manifests to index, the original image index (if any), and notes.

    Platforms are written as `soci convert` writes them: a single-manifest image gets its
    config's platform, normalised; in an image index each entry keeps its own platform;
    with `--platform`, the SOCI index carries the flag's platform (containerd `Parse`).
    """
    notes: list[str] = []
    if root.media_type in mt.MANIFEST_TYPES:
        manifest = _parse_manifest(root, "image manifest")
        platform = _platform_from_config(source, manifest)
        wanted = _wanted(platform, platforms)
        if platforms and wanted is None:
            raise InputError(
                f"the image is {platform}; no --platform matches "
                f"({', '.join(str(p) for p in platforms)})"
            )
        image = Descriptor(
            media_type=root.media_type, digest=root.digest, size=len(root.data), platform=platform
        )
        target = Target(image=image, manifest=manifest, platform=wanted or platform)
        return [target], None, notes
    if root.media_type not in mt.INDEX_TYPES:
        raise InputError(f"unsupported image media type {root.media_type!r}")
    index = Index.from_json(load_json(root.data, "image index"), "image index")
    targets = []
    left: list[str] = []
    for desc in index.manifests or ():
        parsed: Manifest | None = None
        if listed_soci_index(desc):
            if desc.artifact_type in (c.SOCI_INDEX_V1, c.SOCI_INDEX_V2):
                continue
            parsed = _parse_manifest(source.fetch_manifest(desc.digest), f"entry {desc.digest}")
            if soci_index_format(desc, parsed) is not None:
                continue  # a SOCI index whose entry lost its artifactType (skopeo 1.9 copies)
        if desc.annotation(mt.ANNOTATION_REFERENCE_TYPE) == mt.ATTESTATION_MANIFEST:
            continue
        if desc.media_type not in mt.MANIFEST_TYPES:
            notes.append(
                f"entry {desc.digest} ({desc.media_type}) is not an image manifest: left as is"
            )
            continue
        if platforms and desc.platform is not None and _wanted(desc.platform, platforms) is None:
            left.append(f"{desc.platform} ({desc.digest[:19]})")
            continue
        if parsed is None:
            parsed = _parse_manifest(source.fetch_manifest(desc.digest), f"manifest {desc.digest}")
        if soci_index_format(None, parsed) is not None:
            continue  # an unmarked SOCI index: never indexed as an image
        platform = desc.platform or _platform_from_config(source, parsed)
        wanted = _wanted(platform, platforms)
        if platforms and wanted is None:
            left.append(f"{platform} ({desc.digest[:19]})")
            continue
        targets.append(Target(image=desc, manifest=parsed, platform=wanted or platform))
    if not targets:
        wanted_text = ", ".join(str(p) for p in platforms) or "any"
        raise InputError(f"the image index has no image manifest for platform {wanted_text}")
    if left:
        notes.append(_filtered_note(platforms, left))
    return targets, index, notes


def _is_layer(media_type: str) -> bool:
    return media_type.startswith(mt.OCI_LAYER_PREFIX) or media_type.startswith(
        "application/vnd.docker.image.rootfs."
    )


def _classify(layer: Descriptor, options: IndexOptions) -> tuple[Compression | None, str | None]:
    if layer.media_type == c.SOCI_PREFETCH:
        return None, "prefetch artifact"
    if not _is_layer(layer.media_type):
        raise InputError(
            f"manifest lists {layer.digest} with non-layer media type {layer.media_type!r}"
        )
    if layer.size < options.min_layer_size:
        return None, f"size {layer.size} is less than min-layer-size {options.min_layer_size}"
    compression = compression_from_media_type(layer.media_type)
    if compression is None:
        return None, f"unsupported layer media type {layer.media_type}"
    if compression is Compression.ZSTD:
        return None, "zstd compression is not supported by SOCI"
    return compression, None


def _build_one(
    source: ImageSource,
    layer: Descriptor,
    compression: Compression,
    options: IndexOptions,
    progress: ByteProgress,
) -> _Built:
    started = time.monotonic()
    with source.open_blob(layer.digest, layer.size) as raw:
        # Registry streams check the digest as the last byte arrives; hash other sources here.
        checked = isinstance(raw, VerifiedBlobReader)
        reader: HashingReader | BinaryIO = raw if checked else HashingReader(raw)
        recorder = LayerRecorder() if options.record_for_verify else None
        try:
            built = build_ztoc(
                reader,  # type: ignore[arg-type]
                compression=compression,
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
    report = LayerReport(
        platform="",
        digest=layer.digest,
        media_type=layer.media_type,
        size=layer.size,
        ztoc_digest=built.digest,
        ztoc_size=built.size,
        spans=built.span_count,
        files=built.entry_count,
        seconds=seconds,
    )
    disable = options.optimize_xattrs and built.xattrs_can_be_disabled
    # The record is kept only now that the bytes it describes matched the layer digest.
    record = recorder.record(layer.digest, layer.size, built.data) if recorder else None
    return _Built(data=built.data, report=report, disable_xattrs=disable, record=record)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Built:
    data: bytes
    report: LayerReport
    disable_xattrs: bool
    record: LayerRecord | None = None


def _item(data: bytes, media_type: str, *, manifest: bool, what: str) -> PlanItem:
    return PlanItem(
        digest=sha256_digest(data),
        data=data,
        media_type=media_type,
        is_manifest=manifest,
        what=what,
    )


def build_plan(
    source: ImageSource, options: IndexOptions, *, destination: Destination | None = None
) -> IndexReport:
    """Read the image, build every zTOC, and return the report with the write plan.

    `destination` (the same repository or layout) is read before any layer: with
    `options.reuse`, an equivalent complete SOCI index there ends the run (up to date) without
    a download; it also holds the referrers tag that v1 merges with.
    """
    root = source.resolve()
    targets, original_index, notes = select_targets(source, root, options.platforms)
    log.info("%s: %d platform manifest(s) to consider", source.display_name, len(targets))

    jobs: dict[str, tuple[Descriptor, Compression]] = {}
    per_platform: list[LayerRows] = []
    for target in targets:
        rows: LayerRows = []
        for layer in target.manifest.layers or ():
            compression, reason = _classify(layer, options)
            if compression is not None:
                jobs.setdefault(layer.digest, (layer, compression))
            rows.append((layer, reason))
        per_platform.append(rows)

    base = IndexReport(
        outcome=Outcome.NOT_APPLICABLE,
        image=source.display_name,
        index_format=options.index_format,
        original_digest=root.digest,
        original_media_type=root.media_type,
    )
    if jobs and options.reuse and destination is not None:
        reused = find_reusable(
            destination,
            index_format=options.index_format,
            tag=options.tag,
            span_size=options.span_size,
            build_tool_identifier=options.build_tool_identifier,
            optimize_xattrs=options.optimize_xattrs,
            targets=targets,
            rows=per_platform,
            original_index=original_index,
        )
        if reused is not None:
            return _reused_report(
                base,
                reused,
                targets=targets,
                per_platform=per_platform,
                notes=notes,
                options=options,
            )

    built: dict[str, _Built] = {}
    if jobs:
        total = sum(layer.size for layer, _ in jobs.values())
        log.info(
            "building %d zTOC(s) from %.1f MB of layers with %d worker(s)",
            len(jobs),
            total / 1e6,
            min(options.workers, len(jobs)),
        )
        progress = ByteProgress(total, "layers")
        with ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(jobs)))) as pool:
            futures = {
                digest: pool.submit(_build_one, source, layer, comp, options, progress)
                for digest, (layer, comp) in jobs.items()
            }
            for digest, future in futures.items():
                built[digest] = future.result()

    reports: list[LayerReport] = []
    items: list[PlatformSoci] = []
    plan: list[PlanItem] = [
        _item(
            c.EMPTY_CONFIG, c.EMPTY_CONFIG_MEDIA_TYPE, manifest=False, what="SOCI index config {}"
        )
    ]
    seen_ztocs: set[str] = set()
    v1_indexes: list[tuple[Target, PlanItem]] = []
    for target, rows in zip(targets, per_platform, strict=True):
        refs = []
        for layer, reason in rows:
            if reason is not None:
                reports.append(
                    LayerReport(
                        platform=str(target.platform),
                        digest=layer.digest,
                        media_type=layer.media_type,
                        size=layer.size,
                        skipped=reason,
                    )
                )
                continue
            b = built[layer.digest]
            reports.append(LayerReport(**{**_fields(b.report), "platform": str(target.platform)}))
            refs.append(
                ZtocRef(
                    layer=layer,
                    digest=b.report.ztoc_digest or "",
                    size=b.report.ztoc_size or 0,
                    span_size=options.span_size,
                    disable_xattrs=b.disable_xattrs,
                )
            )
            if b.report.ztoc_digest not in seen_ztocs:
                seen_ztocs.add(b.report.ztoc_digest or "")
                plan.append(
                    _item(b.data, c.ZTOC_MEDIA_TYPE, manifest=False, what=f"zTOC of {layer.digest}")
                )
        if not refs:
            notes.append(f"{target.platform}: no layer to index, no SOCI index for this platform")
            continue
        subject = None
        if options.index_format is IndexFormat.V1:
            subject = Descriptor(
                media_type=target.image.media_type,
                digest=target.image.digest,
                size=target.image.size,
            )
        index_bytes = soci_index_manifest(
            index_format=options.index_format,
            ztocs=refs,
            build_tool_identifier=options.build_tool_identifier,
            subject=subject,
        ).to_json()
        index_item = _item(
            index_bytes, mt.OCI_MANIFEST, manifest=True, what=f"SOCI index ({target.platform})"
        )
        plan.append(index_item)
        v1_indexes.append((target, index_item))
        items.append(
            PlatformSoci(
                image=target.image,
                manifest=target.manifest,
                platform=target.platform,
                soci_index=index_bytes,
            )
        )

    records = {d: b.record for d, b in built.items() if b.record is not None}
    base = _replace(base, layers=tuple(reports), notes=tuple(notes), records=records)
    if not items:
        return _replace(
            base,
            message=(
                "SOCI not applicable: no layer qualifies for a zTOC (all layers are smaller than "
                f"--min-layer-size {options.min_layer_size} or unsupported); nothing was written"
            ),
        )

    soci_indexes = {str(t.platform): i.digest for t, i in v1_indexes}
    tags: list[tuple[str, PlanItem]] = []
    if options.index_format is IndexFormat.V2:
        conv = convert(items, original_index)
        for data in conv.manifests:
            plan.append(
                _item(data, mt.OCI_MANIFEST, manifest=True, what="SOCI-enabled image manifest")
            )
        index_item = _item(conv.index, mt.OCI_INDEX, manifest=True, what="SOCI-enabled image index")
        plan.append(index_item)
        if options.tag:
            tags.append((options.tag, index_item))
        for digest in conv.attestations_updated:
            notes.append(
                f"attestation manifest {digest} kept; its reference now points at the "
                "SOCI-enabled manifest"
            )
        return _replace(
            base,
            outcome=Outcome.INDEXED,
            soci_image_digest=conv.index_digest,
            soci_indexes=soci_indexes,
            manifest_digests=conv.manifest_digests,
            tag=options.tag,
            notes=tuple(notes),
            plan=Plan(items=tuple(plan), tags=tuple(tags)),
        )
    for target, index_item in v1_indexes:
        fallback = referrers_fallback(target.image.digest, index_item, destination)
        plan.append(fallback[1])
        tags.append(fallback)
    return _replace(
        base,
        outcome=Outcome.INDEXED,
        soci_indexes=soci_indexes,
        notes=tuple(notes),
        plan=Plan(items=tuple(plan), tags=tuple(tags)),
    )


def referrers_fallback(
    subject_digest: str, index_item: PlanItem, existing: TagReader | None
) -> tuple[str, PlanItem]:
    """The OCI referrers tag schema: an image index tagged `sha256-<hex>` listing referrers."""
    tag = referrers_tag(subject_digest)
    manifest = Manifest.from_json(load_json(index_item.data, "SOCI index"))
    desc = descriptor_for(
        index_item.data,
        mt.OCI_MANIFEST,
        annotations=dict(manifest.annotations or {}),
        artifact_type=manifest.config.media_type,
    )
    entries: list[Descriptor] = []
    current = existing.read_tag(tag) if existing is not None else None
    if current is not None:
        old = Index.from_json(
            load_json(current.data, f"referrers tag {tag}"), f"referrers tag {tag}"
        )
        entries = [d for d in old.manifests or () if d.digest != desc.digest]
    data = Index(media_type=mt.OCI_INDEX, manifests=(*entries, desc)).to_json()
    return tag, _item(data, mt.OCI_INDEX, manifest=True, what=f"referrers index {tag}")


def _reused_report(
    base: IndexReport,
    reused: Reused,
    *,
    targets: list[Target],
    per_platform: list[LayerRows],
    notes: list[str],
    options: IndexOptions,
) -> IndexReport:
    """The up-to-date report of a rerun that found an equivalent index before downloading."""
    notes = list(notes)
    for target, rows in zip(targets, per_platform, strict=True):
        if all(reason is not None for _, reason in rows):
            notes.append(f"{target.platform}: no layer to index, no SOCI index for this platform")
    v2 = reused.conversion
    if v2 is not None:
        notes.extend(
            f"attestation manifest {digest} kept; its reference now points at the "
            "SOCI-enabled manifest"
            for digest in v2.attestations_updated
        )
    log.info("an equivalent SOCI index is already there: no layer downloaded")
    return _replace(
        base,
        outcome=Outcome.UP_TO_DATE,
        soci_image_digest=v2.index_digest if v2 else None,
        soci_indexes=reused.soci_indexes,
        manifest_digests=v2.manifest_digests if v2 else {},
        tag=options.tag if v2 else None,
        layers=reused.layers,
        notes=tuple(notes),
        already_present=reused.checked,
        message=f"{UP_TO_DATE_MESSAGE}; checked before reading any layer, so nothing was "
        "downloaded either (--force rebuilds)",
    )


def _replace(report: IndexReport, **changes: Any) -> IndexReport:
    return replace(report, **changes)


def _fields(report: LayerReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in LayerReport.__dataclass_fields__}

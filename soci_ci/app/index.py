"""`soci-ci index`: select layers, build zTOCs in parallel while streaming, plan the writes.

Source- and sink-agnostic: an OCI layout, an oci-archive or a registry all go through the
same plan, so the bytes written are identical wherever the image lives. `build_plan` is four
steps, each testable alone: read the manifests and select platforms and layers
(`read_selection`), look for the index this run would write before any layer is read
(`app/reuse.py`: a complete one ends the run), build the zTOCs (`app/ztoc_build.py`), and
make the write plan (`app/write_plan.py`, pure). `app/apply.py` writes what the destination
lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from soci_ci.app.apply import UP_TO_DATE_MESSAGE
from soci_ci.app.index_model import (
    IndexOptions,
    IndexReport,
    LayerRows,
    Outcome,
    Selection,
    Target,
    ZtocJob,
)
from soci_ci.app.reuse import Destination, Reused, ReuseRequest, find_reusable
from soci_ci.app.write_plan import attestation_note, make_plan, no_layer_note
from soci_ci.app.ztoc_build import build_ztocs
from soci_ci.errors import InputError
from soci_ci.oci import media_types as mt
from soci_ci.oci.manifest import Descriptor, Index, Manifest, load_json
from soci_ci.oci.platform import Platform
from soci_ci.oci.store import Fetched, ImageSource, read_blob
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import listed_soci_index, soci_index_format
from soci_ci.soci.ztoc import Compression, compression_from_media_type

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


def classify_layers(
    targets: Sequence[Target], options: IndexOptions
) -> tuple[tuple[LayerRows, ...], dict[str, ZtocJob]]:
    """Per target, each layer with why it is skipped; and the zTOC jobs, one per digest."""
    jobs: dict[str, ZtocJob] = {}
    per_platform: list[LayerRows] = []
    for target in targets:
        rows = []
        for layer in target.manifest.layers or ():
            compression, reason = _classify(layer, options)
            if compression is not None:
                jobs.setdefault(layer.digest, ZtocJob(layer=layer, compression=compression))
            rows.append((layer, reason))
        per_platform.append(tuple(rows))
    return tuple(per_platform), jobs


def read_selection(source: ImageSource, options: IndexOptions) -> Selection:
    """Read the image's manifests (no layer): the platforms and layers this run indexes."""
    root = source.resolve()
    targets, original_index, notes = select_targets(source, root, options.platforms)
    log.info("%s: %d platform manifest(s) to consider", source.display_name, len(targets))
    rows, jobs = classify_layers(targets, options)
    return Selection(
        root_digest=root.digest,
        root_media_type=root.media_type,
        targets=tuple(targets),
        rows=rows,
        jobs=jobs,
        original_index=original_index,
        notes=tuple(notes),
    )


def build_plan(
    source: ImageSource, options: IndexOptions, *, destination: Destination | None = None
) -> IndexReport:
    """Read the image, build every zTOC, and return the report with the write plan.

    `destination` (the same repository or layout) is read before any layer: with
    `options.reuse`, an equivalent complete SOCI index there ends the run (up to date) without
    a download; it also holds the referrers tag that v1 merges with.
    """
    selection = read_selection(source, options)
    base = IndexReport(
        outcome=Outcome.NOT_APPLICABLE,
        image=source.display_name,
        index_format=options.index_format,
        original_digest=selection.root_digest,
        original_media_type=selection.root_media_type,
    )
    if selection.jobs and options.reuse and destination is not None:
        reused = find_reusable(destination, ReuseRequest.of(options, selection))
        if reused is not None:
            return reused_report(base, reused, selection, options)
    built = build_ztocs(source, selection.jobs, options)
    return make_plan(base, selection, built, options, existing=destination)


def reused_report(
    base: IndexReport, reused: Reused, selection: Selection, options: IndexOptions
) -> IndexReport:
    """The up-to-date report of a rerun that found an equivalent index before downloading."""
    notes = list(selection.notes)
    notes.extend(
        no_layer_note(target)
        for target, rows in selection.platforms()
        if all(reason is not None for _, reason in rows)
    )
    v2 = reused.conversion
    if v2 is not None:
        notes.extend(attestation_note(digest) for digest in v2.attestations_updated)
    log.info("an equivalent SOCI index is already there: no layer downloaded")
    return replace(
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

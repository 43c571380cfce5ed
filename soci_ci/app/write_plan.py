"""The write plan of `soci-ci index`, made from the selection and the built zTOCs (pure).

The plan lists children before parents: the `{}` config, then per platform its new zTOCs and
its SOCI index manifest, then (v2) the rewritten image manifests and the SOCI-enabled image
index, or (v1) each referrers fallback index; tags last, so no tag ever points at an
incomplete graph. The only read is of the referrers tags v1 merges with (`existing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from soci_ci.app.index_model import (
    IndexOptions,
    IndexReport,
    LayerReport,
    LayerRows,
    Outcome,
    Plan,
    PlanItem,
    Selection,
    TagReader,
    Target,
)
from soci_ci.app.ztoc_build import BuiltZtoc
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.manifest import Descriptor, Index, Manifest, descriptor_for, load_json
from soci_ci.oci.referrers import referrers_tag
from soci_ci.soci import constants as c
from soci_ci.soci.convert import PlatformSoci, convert
from soci_ci.soci.index_manifest import IndexFormat, ZtocRef, soci_index_manifest

Built = Mapping[str, BuiltZtoc]  # layer digest -> its zTOC


def no_layer_note(target: Target) -> str:
    return f"{target.platform}: no layer to index, no SOCI index for this platform"


def attestation_note(digest: str) -> str:
    return (
        f"attestation manifest {digest} kept; its reference now points at the SOCI-enabled manifest"
    )


def plan_item(data: bytes, media_type: str, *, manifest: bool, what: str) -> PlanItem:
    return PlanItem(
        digest=sha256_digest(data),
        data=data,
        media_type=media_type,
        is_manifest=manifest,
        what=what,
    )


def layer_reports(selection: Selection, built: Built) -> tuple[LayerReport, ...]:
    """Per platform and layer: its zTOC and what the build measured, or why it was skipped."""
    reports = []
    for target, rows in selection.platforms():
        platform = str(target.platform)
        for layer, reason in rows:
            if reason is not None:
                reports.append(LayerReport.of(platform, layer, skipped=reason))
                continue
            b = built[layer.digest]
            row = LayerReport.of(platform, b.layer, ztoc_digest=b.digest, ztoc_size=b.size)
            reports.append(replace(row, spans=b.spans, files=b.files, seconds=b.seconds))
    return tuple(reports)


def ztoc_refs(rows: LayerRows, built: Built, options: IndexOptions) -> tuple[ZtocRef, ...]:
    """The zTOC descriptors of one platform's SOCI index, in layer order."""
    return tuple(
        ZtocRef(
            layer=layer,
            digest=built[layer.digest].digest,
            size=built[layer.digest].size,
            span_size=options.span_size,
            disable_xattrs=built[layer.digest].disable_xattrs,
        )
        for layer, reason in rows
        if reason is None
    )


def soci_index_bytes(target: Target, refs: tuple[ZtocRef, ...], options: IndexOptions) -> bytes:
    """One platform's SOCI index manifest; v1 names the image manifest as its `subject`."""
    subject = None
    if options.index_format is IndexFormat.V1:
        image = target.image
        subject = Descriptor(media_type=image.media_type, digest=image.digest, size=image.size)
    return soci_index_manifest(
        index_format=options.index_format,
        ztocs=refs,
        build_tool_identifier=options.build_tool_identifier,
        subject=subject,
    ).to_json()


Indexed = list[tuple[Target, PlanItem, PlatformSoci]]  # per platform with a SOCI index


def platform_indexes(
    selection: Selection, built: Built, options: IndexOptions
) -> tuple[list[PlanItem], Indexed, list[str]]:
    """The `{}` config, then per platform its new zTOCs and its SOCI index manifest; the
    platforms indexed; the notes (with one per platform that has no layer to index)."""
    notes = list(selection.notes)
    items = [
        plan_item(
            c.EMPTY_CONFIG, c.EMPTY_CONFIG_MEDIA_TYPE, manifest=False, what="SOCI index config {}"
        )
    ]
    seen_ztocs: set[str] = set()
    indexed: Indexed = []
    for target, rows in selection.platforms():
        refs = ztoc_refs(rows, built, options)
        for ref in refs:
            if ref.digest not in seen_ztocs:
                seen_ztocs.add(ref.digest)
                data = built[ref.layer.digest].data
                what = f"zTOC of {ref.layer.digest}"
                items.append(plan_item(data, c.ZTOC_MEDIA_TYPE, manifest=False, what=what))
        if not refs:
            notes.append(no_layer_note(target))
            continue
        index_bytes = soci_index_bytes(target, refs, options)
        what = f"SOCI index ({target.platform})"
        index_item = plan_item(index_bytes, mt.OCI_MANIFEST, manifest=True, what=what)
        items.append(index_item)
        soci = PlatformSoci(
            image=target.image,
            manifest=target.manifest,
            platform=target.platform,
            soci_index=index_bytes,
        )
        indexed.append((target, index_item, soci))
    return items, indexed, notes


def make_plan(
    base: IndexReport,
    selection: Selection,
    built: Built,
    options: IndexOptions,
    *,
    existing: TagReader | None,
) -> IndexReport:
    """The report of a full run with its write plan (not applicable when no layer
    qualifies); `existing` holds the referrers tags that v1 merges with."""
    items, indexed, notes = platform_indexes(selection, built, options)
    records = {d: b.record for d, b in built.items() if b.record is not None}
    base = replace(
        base, layers=layer_reports(selection, built), notes=tuple(notes), records=records
    )
    if not indexed:
        return replace(
            base,
            message=(
                "SOCI not applicable: no layer qualifies for a zTOC (all layers are smaller than "
                f"--min-layer-size {options.min_layer_size} or unsupported); nothing was written"
            ),
        )
    base = replace(
        base,
        outcome=Outcome.INDEXED,
        soci_indexes={str(t.platform): i.digest for t, i, _ in indexed},
    )
    if options.index_format is IndexFormat.V2:
        return _v2_plan(base, items, [soci for _, _, soci in indexed], selection, options)
    tags = [referrers_fallback(t.image.digest, i, existing) for t, i, _ in indexed]
    items.extend(item for _, item in tags)
    return replace(base, plan=Plan(items=tuple(items), tags=tuple(tags)))


def _v2_plan(
    base: IndexReport,
    items: list[PlanItem],
    socis: list[PlatformSoci],
    selection: Selection,
    options: IndexOptions,
) -> IndexReport:
    """v2: the image manifests rewritten with their SOCI index, and the image index over
    them (tagged `options.tag`)."""
    conv = convert(socis, selection.original_index)
    for data in conv.manifests:
        what = "SOCI-enabled image manifest"
        items.append(plan_item(data, mt.OCI_MANIFEST, manifest=True, what=what))
    index_item = plan_item(conv.index, mt.OCI_INDEX, manifest=True, what="SOCI-enabled image index")
    items.append(index_item)
    tags = ((options.tag, index_item),) if options.tag else ()
    return replace(
        base,
        soci_image_digest=conv.index_digest,
        manifest_digests=conv.manifest_digests,
        tag=options.tag,
        notes=(*base.notes, *(attestation_note(d) for d in conv.attestations_updated)),
        plan=Plan(items=tuple(items), tags=tags),
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
    return tag, plan_item(data, mt.OCI_INDEX, manifest=True, what=f"referrers index {tag}")

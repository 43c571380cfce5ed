"""The v2 conversion (`soci convert`, notes 1d): SOCI-enabled manifests and the OCI image index.

Every image manifest that got a SOCI index is re-serialized as an OCI manifest (config media
type forced to the OCI config type, layers untouched) carrying `com.amazon.soci.index-digest`;
the image index (created for a single-manifest image, else the original decoded as an OCI
index) points at the rewritten manifests and lists each SOCI index descriptor.

Deliberate choice where upstream is silent: manifests that get no SOCI index keep their bytes
and digests, and buildx attestation manifests stay valid: their `vnd.docker.reference.digest`
is updated to the rewritten manifest they describe (the attestation content itself is not
changed; it still names the original manifest digest, which stays in the repository).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from soci_ci.oci import media_types as mt
from soci_ci.oci.manifest import Descriptor, Index, Manifest, descriptor_for
from soci_ci.oci.platform import Platform
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import listed_soci_index


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformSoci:
    """One image manifest and the v2 SOCI index built for it."""

    image: Descriptor  # the original manifest's descriptor
    manifest: Manifest  # the original manifest, parsed
    platform: Platform
    soci_index: bytes  # SOCI index manifest bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    manifests: tuple[bytes, ...]  # rewritten image manifests, in platform order
    index: bytes  # the new OCI image index (the SOCI-enabled image)
    index_digest: str
    manifest_digests: dict[str, str]  # original manifest digest -> rewritten digest
    attestations_updated: tuple[str, ...]  # attestation manifest digests re-pointed


def rewrite_manifest(manifest: Manifest, soci_index_digest: str) -> bytes:
    annotations = dict(manifest.annotations or {})
    annotations[c.ANNOTATION_INDEX_DIGEST] = soci_index_digest
    return replace(
        manifest,
        schema_version=2,
        media_type=mt.OCI_MANIFEST,
        config=replace(manifest.config, media_type=mt.OCI_CONFIG),
        annotations=annotations,
    ).to_json()


def _soci_descriptor(item: PlatformSoci, manifest_digest: str) -> Descriptor:
    return descriptor_for(
        item.soci_index,
        mt.OCI_MANIFEST,
        annotations={c.ANNOTATION_IMAGE_MANIFEST_DIGEST: manifest_digest},
        platform=item.platform,
        artifact_type=c.SOCI_INDEX_V2,
    )


def convert(items: Sequence[PlatformSoci], original_index: Index | None) -> Conversion:
    """Build the SOCI-enabled image for `items` (one per indexed platform manifest)."""
    rewritten: dict[str, Descriptor] = {}
    manifests: list[bytes] = []
    soci_descriptors: list[Descriptor] = []
    for item in items:
        data = rewrite_manifest(item.manifest, descriptor_for(item.soci_index, "").digest)
        manifests.append(data)
        new_manifest = Manifest.from_json(_loads(data))
        desc = replace(
            item.image,
            media_type=mt.OCI_MANIFEST,
            digest=descriptor_for(data, "").digest,
            size=len(data),
            annotations=dict(new_manifest.annotations or {}),
            # A single manifest gets the platform of its config (upstream sets it on the
            # target); index entries keep theirs, or none.
            platform=item.image.platform or (item.platform if original_index is None else None),
        )
        rewritten[item.image.digest] = desc
        soci_descriptors.append(_soci_descriptor(item, desc.digest))

    updated: list[str] = []
    if original_index is None:
        entries = [rewritten[items[0].image.digest]] if items else []
        base = Index(media_type=mt.OCI_INDEX, manifests=())
    else:
        entries = []
        pending = list(zip(items, soci_descriptors, strict=True))
        for desc in original_index.manifests or ():
            if desc.digest in rewritten:
                entries.append(rewritten[desc.digest])
                continue
            if listed_soci_index(desc):
                # An older SOCI index for a platform indexed again: replaced in place (as
                # upstream's addSociIndexes); further ones for that platform are dropped.
                hit = next(
                    (k for k, (item, _) in enumerate(pending) if _same(desc.platform, item)), None
                )
                if hit is not None:
                    entries.append(pending.pop(hit)[1])
                    continue
                if desc.platform is None or any(_same(desc.platform, i) for i in items):
                    continue
            ref = desc.annotation(mt.ANNOTATION_REFERENCE_DIGEST)
            if ref in rewritten:
                annotations = dict(desc.annotations or {})
                annotations[mt.ANNOTATION_REFERENCE_DIGEST] = rewritten[ref].digest
                entries.append(replace(desc, annotations=annotations))
                updated.append(desc.digest)
                continue
            entries.append(desc)
        soci_descriptors = [d for _, d in pending]
        base = replace(original_index, media_type=mt.OCI_INDEX)
    index = replace(base, schema_version=2, manifests=tuple(entries + soci_descriptors))
    data = index.to_json()
    return Conversion(
        manifests=tuple(manifests),
        index=data,
        index_digest=descriptor_for(data, "").digest,
        manifest_digests={k: v.digest for k, v in rewritten.items()},
        attestations_updated=tuple(updated),
    )


def _same(platform: Platform | None, item: PlatformSoci) -> bool:
    """containerd `OnlyStrict(normalised SOCI index platform)`, as `addSociIndexes` matches."""
    return platform is not None and platform.matches(item.platform)


def _loads(data: bytes) -> object:
    return json.loads(data)

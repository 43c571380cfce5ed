"""SOCI index manifests, v1 and v2, as upstream's `NewIndex`/`MarshalIndex` write them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from soci_ci.oci import media_types as mt
from soci_ci.oci.manifest import Descriptor, Manifest
from soci_ci.soci import constants as c


class IndexFormat(StrEnum):
    V1 = "v1"
    V2 = "v2"

    @property
    def config_media_type(self) -> str:
        return c.SOCI_INDEX_V1 if self is IndexFormat.V1 else c.SOCI_INDEX_V2


@dataclass(frozen=True, slots=True, kw_only=True)
class ZtocRef:
    """A built zTOC and the image layer it indexes."""

    layer: Descriptor
    digest: str
    size: int
    span_size: int
    disable_xattrs: bool = False


def ztoc_descriptor(ref: ZtocRef) -> Descriptor:
    annotations = {
        c.ANNOTATION_IMAGE_LAYER_DIGEST: ref.layer.digest,
        c.ANNOTATION_IMAGE_LAYER_MEDIA_TYPE: ref.layer.media_type,
        c.ANNOTATION_SPAN_SIZE: str(ref.span_size),
    }
    if ref.disable_xattrs:
        annotations[c.ANNOTATION_DISABLE_XATTRS] = "true"
    return Descriptor(
        media_type=c.ZTOC_MEDIA_TYPE, digest=ref.digest, size=ref.size, annotations=annotations
    )


def soci_index_manifest(
    *,
    index_format: IndexFormat,
    ztocs: Sequence[ZtocRef],
    build_tool_identifier: str,
    subject: Descriptor | None = None,
) -> Manifest:
    """The index manifest; `subject` (the image manifest) only for v1."""
    return Manifest(
        media_type=mt.OCI_MANIFEST,
        config=Descriptor(
            media_type=index_format.config_media_type,
            digest=c.EMPTY_CONFIG_DIGEST,
            size=len(c.EMPTY_CONFIG),
        ),
        layers=tuple(ztoc_descriptor(z) for z in ztocs),
        subject=subject if index_format is IndexFormat.V1 else None,
        annotations={c.ANNOTATION_BUILD_TOOL: build_tool_identifier},
    )


def listed_soci_index(desc: Descriptor) -> bool:
    """Could this image index entry be a SOCI index (so that it must not be read as an image)?

    `soci convert` marks its entries with `artifactType`; clients built on image-spec 1.0
    (skopeo 1.9) drop that field when they copy an index, and what is left is an OCI manifest
    entry with the `com.amazon.soci.image-manifest-digest` annotation. Either is enough to
    look at the manifest itself (`soci_index_format`), as the snapshotter does.
    """
    if desc.artifact_type in (c.SOCI_INDEX_V1, c.SOCI_INDEX_V2):
        return True
    return (
        desc.media_type == mt.OCI_MANIFEST
        and desc.annotation(c.ANNOTATION_IMAGE_MANIFEST_DIGEST) is not None
    )


def soci_index_format(
    desc: Descriptor | None, manifest: Manifest | None = None
) -> IndexFormat | None:
    """The SOCI index version of an index entry (with its manifest if read), else None.

    The one place index, the rerun check and verify recognise SOCI indexes: by the entry's
    `artifactType`, else by the manifest's own `artifactType` or config media type (what the
    snapshotter checks when it loads an index: `unknown index version` otherwise).
    """
    for kind in (
        desc.artifact_type if desc else None,
        manifest.artifact_type if manifest else None,
        manifest.config.media_type if manifest else None,
    ):
        if kind == c.SOCI_INDEX_V2:
            return IndexFormat.V2
        if kind == c.SOCI_INDEX_V1:
            return IndexFormat.V1
    return None

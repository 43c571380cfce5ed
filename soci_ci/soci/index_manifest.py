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

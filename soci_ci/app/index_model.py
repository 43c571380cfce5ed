"""The values `soci-ci index` works with: options, the write plan, and the report."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from soci_ci.oci.manifest import Descriptor, Index, Manifest
from soci_ci.oci.platform import Platform
from soci_ci.oci.store import Fetched
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import IndexFormat
from soci_ci.soci.layer_record import LayerRecord
from soci_ci.soci.zlib_binding import InflateBackend
from soci_ci.soci.ztoc import Compression


class Outcome(StrEnum):
    INDEXED = "indexed"
    UP_TO_DATE = "up-to-date"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexOptions:
    index_format: IndexFormat = IndexFormat.V2
    span_size: int = c.DEFAULT_SPAN_SIZE
    min_layer_size: int = c.DEFAULT_MIN_LAYER_SIZE
    platforms: tuple[Platform, ...] = ()
    build_tool_identifier: str = c.DEFAULT_BUILD_TOOL
    tag: str | None = None  # tag of the SOCI-enabled image (v2)
    optimize_xattrs: bool = False
    reuse: bool = True  # rerun pre-check: reuse an equivalent index found before downloading
    # Keep what verify needs from the layer reads (IndexReport.records): `run` verifies
    # without downloading the layers again.
    record_for_verify: bool = False
    inflate: InflateBackend = InflateBackend.AUTO  # the inflate library (SOCI_CI_INFLATE)
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One platform image manifest of the source that this run indexes."""

    image: Descriptor
    manifest: Manifest
    platform: Platform


# Per target: every layer with the reason it is skipped (None: it gets a zTOC).
LayerRows = tuple[tuple[Descriptor, str | None], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ZtocJob:
    """A layer that gets a zTOC (once, however many platforms list it)."""

    layer: Descriptor
    compression: Compression


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The image as a run reads it before any layer: what gets a zTOC and what is skipped."""

    root_digest: str
    root_media_type: str
    targets: tuple[Target, ...]
    rows: tuple[LayerRows, ...]  # per target, in the same order
    jobs: Mapping[str, ZtocJob]  # layer digest -> its zTOC job, in first-listed order
    original_index: Index | None  # the image index the SOCI-enabled one is made from (v2)
    notes: tuple[str, ...]

    def platforms(self) -> Iterator[tuple[Target, LayerRows]]:
        """Each target with its layer rows."""
        return zip(self.targets, self.rows, strict=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerReport:
    platform: str
    digest: str
    media_type: str
    size: int
    ztoc_digest: str | None = None
    ztoc_size: int | None = None
    spans: int | None = None
    files: int | None = None
    seconds: float | None = None
    skipped: str | None = None

    @classmethod
    def of(
        cls,
        platform: str,
        layer: Descriptor,
        *,
        skipped: str | None = None,
        ztoc_digest: str | None = None,
        ztoc_size: int | None = None,
    ) -> LayerReport:
        """The row of `layer`: skipped (with why), or with its zTOC's digest and size."""
        return cls(
            platform=platform,
            digest=layer.digest,
            media_type=layer.media_type,
            size=layer.size,
            ztoc_digest=ztoc_digest,
            ztoc_size=ztoc_size,
            skipped=skipped,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanItem:
    digest: str
    data: bytes
    media_type: str
    is_manifest: bool
    what: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    items: tuple[PlanItem, ...]
    tags: tuple[tuple[str, PlanItem], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexReport:
    outcome: Outcome
    image: str
    index_format: IndexFormat
    original_digest: str
    original_media_type: str
    soci_image_digest: str | None = None
    soci_indexes: dict[str, str] = field(default_factory=dict)  # platform -> index digest
    manifest_digests: dict[str, str] = field(default_factory=dict)  # old -> rewritten
    tag: str | None = None
    layers: tuple[LayerReport, ...] = ()
    notes: tuple[str, ...] = ()
    written: int = 0
    already_present: int = 0
    message: str = ""
    plan: Plan | None = None
    # Layer digest -> what the zTOC build's read proved (with `record_for_verify`), for
    # `verify_image(records=...)` in the same run; not part of the JSON report.
    records: Mapping[str, LayerRecord] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "message": self.message,
            "image": self.image,
            "format": str(self.index_format),
            "original_image": {
                "digest": self.original_digest,
                "mediaType": self.original_media_type,
            },
            "soci_image": (
                {"digest": self.soci_image_digest, "tag": self.tag}
                if self.soci_image_digest
                else None
            ),
            "soci_indexes": [{"platform": p, "digest": d} for p, d in self.soci_indexes.items()],
            "rewritten_manifests": self.manifest_digests,
            "ztocs": [
                {
                    "platform": r.platform,
                    "layer": r.digest,
                    "layer_media_type": r.media_type,
                    "layer_size": r.size,
                    "digest": r.ztoc_digest,
                    "size": r.ztoc_size,
                    "spans": r.spans,
                    "files": r.files,
                    "seconds": r.seconds,
                }
                for r in self.layers
                if r.ztoc_digest
            ],
            "skipped_layers": [
                {"platform": r.platform, "layer": r.digest, "size": r.size, "reason": r.skipped}
                for r in self.layers
                if r.skipped
            ],
            "notes": list(self.notes),
            "written": self.written,
            "already_present": self.already_present,
        }


class TagReader(Protocol):
    def read_tag(self, tag: str) -> Fetched | None: ...

"""The values of a startup measurement and its JSON form (other tools read these fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRead:
    path: str  # absolute path in the container
    layer: str  # digest of the layer that provides it
    size: int  # uncompressed bytes
    kind: str  # exec | open | read: the first access seen
    spans: tuple[int, ...] = ()  # span ids in the layer's zTOC (empty: no zTOC, or empty file)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerFetch:
    digest: str
    media_type: str
    size: int  # compressed bytes
    indexed: bool  # has a zTOC: fetched lazily, span by span
    spans: int
    spans_read: int
    fetch_bytes: int  # compressed bytes a lazy start fetches from this layer
    requests: int
    files_read: int
    ztoc_digest: str | None = None
    ztoc_size: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    image_bytes: int
    startup_files: int
    startup_file_bytes: int
    fetch_bytes: int
    fetch_requests: int
    ztoc_bytes: int = 0
    indexed_layers: int = 0

    @property
    def fetch_share(self) -> float:
        """The share of the image (compressed) a lazy start fetches, 0..1."""
        return self.fetch_bytes / self.image_bytes if self.image_bytes else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupFiles:
    files: tuple[FileRead, ...]
    layers: tuple[LayerFetch, ...]
    totals: Totals
    not_in_image: tuple[str, ...] = ()  # files read that no layer provides (written at start)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingInfo:
    mode: str  # local | helper
    driver: str  # overlay2 | vfs | overlayfs (the containerd image store)
    ready_by: str  # log | health | after
    ready_seconds: float
    overflow: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupReport:
    image: str
    manifest_digest: str
    platform: str
    ztoc_source: str
    recording: RecordingInfo
    result: StartupFiles
    estimate: dict[str, Any] = field(default_factory=dict)
    layer_order: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    image_source: str = "registry"  # registry | engine (soci_ci.startup.source)
    image_id: str = ""  # the engine's image that ran
    computed_locally: bool = False  # sizes, digests and spans computed here, not a registry's

    def to_json(self) -> dict[str, Any]:
        r = self.result
        t = r.totals
        return {
            "schema_version": SCHEMA_VERSION,
            "image": self.image,
            "manifest_digest": self.manifest_digest,
            "image_source": self.image_source,
            "image_id": self.image_id,
            "computed_locally": self.computed_locally,
            "platform": self.platform,
            "ztoc_source": self.ztoc_source,
            "recording": {
                "mode": self.recording.mode,
                "storage_driver": self.recording.driver,
                "ready_by": self.recording.ready_by,
                "ready_seconds": self.recording.ready_seconds,
                "queue_overflow": self.recording.overflow,
            },
            "files": [
                {
                    "path": f.path,
                    "layer": f.layer,
                    "size": f.size,
                    "kind": f.kind,
                    "spans": list(f.spans),
                }
                for f in r.files
            ],
            "layers": [
                {
                    "digest": la.digest,
                    "size": la.size,
                    "indexed": la.indexed,
                    "spans": la.spans,
                    "spans_read": la.spans_read,
                    "fetch_bytes": la.fetch_bytes,
                    "requests": la.requests,
                    "files_read": la.files_read,
                    "media_type": la.media_type,
                    "ztoc": la.ztoc_digest,
                    "ztoc_size": la.ztoc_size,
                    "note": la.note,
                }
                for la in r.layers
            ],
            "totals": {
                "image_bytes": t.image_bytes,
                "startup_files": t.startup_files,
                "startup_file_bytes": t.startup_file_bytes,
                "fetch_bytes": t.fetch_bytes,
                "fetch_requests": t.fetch_requests,
                "fetch_percent": round(100 * t.fetch_share, 2),
                "ztoc_bytes": t.ztoc_bytes,
                "indexed_layers": t.indexed_layers,
            },
            "not_in_image": list(r.not_in_image),
            "estimate": self.estimate,
            "layer_order": self.layer_order,
            "notes": list(self.notes),
        }

"""OCI descriptors, platforms, manifests and indexes: parsed at the boundary, written as Go does.

Parsing accepts OCI and Docker schema 2 documents (unknown fields are dropped, as Go's
decoding into image-spec v1.1.1 structs drops them). Serialization (`to_json`) follows the
image-spec struct field order and `omitempty` tags, through `gojson.marshal`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from soci_ci import limits
from soci_ci.errors import InputError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import check_digest, sha256_digest
from soci_ci.oci.gojson import NULL, Ordered, marshal
from soci_ci.oci.platform import Platform

# Platform lives in oci/platform.py (containerd's rules); it is re-exported for descriptors' users.
__all__ = [
    "Descriptor",
    "Index",
    "Manifest",
    "Platform",
    "descriptor_for",
    "detect_media_type",
    "load_json",
    "with_annotations",
]


def _str(obj: Mapping[str, Any], key: str, what: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise InputError(f"{what}: missing {key!r}")
        return None
    if not isinstance(value, str):
        raise InputError(f"{what}: {key!r} must be a string")
    return value


def _annotations(obj: Mapping[str, Any], what: str) -> dict[str, str] | None:
    value = obj.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InputError(f"{what}: 'annotations' must be a map of strings")
    return dict(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] | None = None
    data: str | None = None
    platform: Platform | None = None
    artifact_type: str | None = None

    @classmethod
    def from_json(cls, obj: Any, what: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise InputError(f"{what} must be an object")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"{what}: 'size' must be a non-negative integer")
        urls = obj.get("urls") or ()
        if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
            raise InputError(f"{what}: 'urls' must be a list of strings")
        platform = obj.get("platform")
        return cls(
            media_type=_str(obj, "mediaType", what) or "",
            digest=check_digest(_str(obj, "digest", what, required=True) or ""),
            size=size,
            urls=tuple(urls),
            annotations=_annotations(obj, what),
            data=_str(obj, "data", what) or None,
            platform=Platform.from_json(platform, f"{what} platform") if platform else None,
            artifact_type=_str(obj, "artifactType", what) or None,
        )

    def go(self) -> Ordered:
        return Ordered(
            ("mediaType", self.media_type),
            ("digest", self.digest),
            ("size", self.size),
            ("urls", list(self.urls) or None),
            ("annotations", dict(self.annotations) if self.annotations else None),
            ("data", self.data or None),
            ("platform", self.platform.go() if self.platform else None),
            ("artifactType", self.artifact_type or None),
        )

    def annotation(self, key: str) -> str | None:
        return (self.annotations or {}).get(key)


def _descriptors(
    obj: Mapping[str, Any], key: str, what: str, limit: int
) -> tuple[Descriptor, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InputError(f"{what}: {key!r} must be a list")
    if len(value) > limit:
        raise InputError(f"{what} has {len(value)} {key}; at most {limit} are accepted")
    return tuple(Descriptor.from_json(d, f"{what} {key}[{i}]") for i, d in enumerate(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    schema_version: int = 2
    media_type: str | None = mt.OCI_MANIFEST
    artifact_type: str | None = None
    config: Descriptor
    layers: tuple[Descriptor, ...] | None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = None

    @classmethod
    def from_json(cls, obj: Any, what: str = "manifest") -> Manifest:
        if not isinstance(obj, dict):
            raise InputError(f"{what} is not a JSON object")
        subject = obj.get("subject")
        return cls(
            schema_version=_schema_version(obj, what),
            media_type=_str(obj, "mediaType", what) or None,
            artifact_type=_str(obj, "artifactType", what) or None,
            config=Descriptor.from_json(obj.get("config"), f"{what} config"),
            layers=_descriptors(obj, "layers", what, limits.MAX_MANIFEST_LAYERS),
            subject=Descriptor.from_json(subject, f"{what} subject") if subject else None,
            annotations=_annotations(obj, what),
        )

    def go(self) -> Ordered:
        return Ordered(
            ("schemaVersion", self.schema_version),
            ("mediaType", self.media_type or None),
            ("artifactType", self.artifact_type or None),
            ("config", self.config.go()),
            ("layers", [d.go() for d in self.layers] if self.layers is not None else NULL),
            ("subject", self.subject.go() if self.subject else None),
            ("annotations", dict(self.annotations) if self.annotations else None),
        )

    def to_json(self) -> bytes:
        return marshal(self.go())


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    schema_version: int = 2
    media_type: str | None = mt.OCI_INDEX
    artifact_type: str | None = None
    manifests: tuple[Descriptor, ...] | None = field(default=())
    subject: Descriptor | None = None
    annotations: Mapping[str, str] | None = None

    @classmethod
    def from_json(cls, obj: Any, what: str = "image index") -> Index:
        if not isinstance(obj, dict):
            raise InputError(f"{what} is not a JSON object")
        subject = obj.get("subject")
        return cls(
            schema_version=_schema_version(obj, what),
            media_type=_str(obj, "mediaType", what) or None,
            artifact_type=_str(obj, "artifactType", what) or None,
            manifests=_descriptors(obj, "manifests", what, limits.MAX_INDEX_MANIFESTS),
            subject=Descriptor.from_json(subject, f"{what} subject") if subject else None,
            annotations=_annotations(obj, what),
        )

    def go(self) -> Ordered:
        return Ordered(
            ("schemaVersion", self.schema_version),
            ("mediaType", self.media_type or None),
            ("artifactType", self.artifact_type or None),
            ("manifests", [d.go() for d in self.manifests] if self.manifests is not None else NULL),
            ("subject", self.subject.go() if self.subject else None),
            ("annotations", dict(self.annotations) if self.annotations else None),
        )

    def to_json(self) -> bytes:
        return marshal(self.go())


def _schema_version(obj: Mapping[str, Any], what: str) -> int:
    value = obj.get("schemaVersion")
    if value != 2 or isinstance(value, bool):
        raise InputError(f"{what}: unsupported schemaVersion {value!r} (only 2 is supported)")
    return 2


def load_json(data: bytes, what: str, *, limit: int = limits.MAX_LAYOUT_JSON) -> Any:
    """Parse an untrusted JSON document: bounded in size, and deep nesting or huge numbers
    (RecursionError, int conversion limits) are bad input like any other syntax error."""
    if len(data) > limit:
        raise InputError(f"{what} is {len(data)} bytes; more than the {limit} accepted")
    try:
        return json.loads(data)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply to be a manifest") from None
    except (UnicodeDecodeError, ValueError) as exc:  # also int conversion limits
        raise InputError(f"{what} is not valid JSON: {str(exc)[:200]}") from None


def detect_media_type(data: bytes, declared: str | None) -> str:
    """The media type of a manifest/index document (declared, or guessed from its fields)."""
    obj = load_json(data, "manifest")
    if not isinstance(obj, dict):
        raise InputError("manifest is not a JSON object")
    inner = obj.get("mediaType")
    if isinstance(inner, str) and inner:
        return inner
    if declared and declared in mt.MANIFEST_TYPES | mt.INDEX_TYPES:
        return declared
    return mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST


def descriptor_for(data: bytes, media_type: str, **extra: Any) -> Descriptor:
    return Descriptor(media_type=media_type, digest=sha256_digest(data), size=len(data), **extra)


def with_annotations(desc: Descriptor, annotations: Mapping[str, str] | None) -> Descriptor:
    return replace(desc, annotations=dict(annotations) if annotations else None)

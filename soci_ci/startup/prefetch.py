"""The recorded start as upstream SOCI prefetch artifacts (pure).

soci-snapshotter's `application/vnd.amazon.soci.prefetch.v1+json` (docs/prefetch.md,
soci/prefetch.go): one JSON blob per layer, `{"version":"1.0","prefetch_spans":[{"start_span":
S,"end_span":E}]}`, spans inclusive, sorted and merged as upstream's `normalizePrefetchSpans`
does (a range starting at most one span after the previous one's end joins it), attached to
the SOCI index as a layer with the `com.amazon.soci.image-layer-digest` annotation. A file's
range is upstream's: the span of its first byte to the span of offset + size. Only layers with
a zTOC get one (the others are pulled whole anyway). Upstream looks a path up in the topmost
layer *with a zTOC* that lists it; here it is the layer that really provides it.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

from soci_ci.oci.digest import sha256_digest
from soci_ci.soci import constants as c
from soci_ci.startup.image import ImageLayers, LayerInfo
from soci_ci.startup.model import StartupFiles
from soci_ci.startup.rootfs import clean_path, merge_layers

VERSION = "1.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefetchArtifact:
    layer: str
    data: bytes
    digest: str
    spans: tuple[tuple[int, int], ...]

    def descriptor(self) -> dict[str, object]:
        return {
            "mediaType": c.SOCI_PREFETCH,
            "digest": self.digest,
            "size": len(self.data),
            "annotations": {c.ANNOTATION_IMAGE_LAYER_DIGEST: self.layer},
        }


def _span_of(layer: LayerInfo, offset: int) -> int:
    spans = layer.spans
    if spans and spans[0].checkpoint is None:  # uncompressed tar: offset / span size
        return offset // max(spans[0].u_end - spans[0].u_start, 1)
    starts = [s.u_start for s in spans]
    return max(bisect.bisect_right(starts, offset) - 1, 0)


def normalize(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def artifact_bytes(spans: list[tuple[int, int]]) -> bytes:
    body = {
        "version": VERSION,
        "prefetch_spans": [{"start_span": s, "end_span": e} for s, e in spans],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def prefetch_artifacts(image: ImageLayers, result: StartupFiles) -> list[PrefetchArtifact]:
    merged = merge_layers([layer.entries for layer in image.layers])
    ranges: dict[int, list[tuple[int, int]]] = {}
    for f in result.files:
        provided = merged.get(clean_path(f.path))
        if provided is None:
            continue
        layer = image.layers[provided.layer]
        if layer.ztoc_digest is None:
            continue
        off, size = provided.entry.uncompressed_offset, provided.entry.uncompressed_size
        start, end = _span_of(layer, off), _span_of(layer, off + size)
        ranges.setdefault(provided.layer, []).append((start, max(start, end)))
    out = []
    for index in sorted(ranges):
        spans = normalize(ranges[index])
        data = artifact_bytes(spans)
        out.append(
            PrefetchArtifact(
                layer=image.layers[index].descriptor.digest,
                data=data,
                digest=sha256_digest(data),
                spans=tuple(spans),
            )
        )
    return out

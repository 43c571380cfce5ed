"""A layer order that puts the startup files in fewer spans (a suggestion, pure; the image is
never rewritten).

Per indexed layer: the spans its startup files touch now, and the spans they would need
packed together (their tar bytes, headers and padding included, in one run), as they would be
in a layer of their own. The suggested order keeps every layer and adds, on top, one layer
with the startup files in first-access order (copy them last in the Dockerfile, e.g.
`COPY --from=build` of exactly those paths), so a lazy start reads a few contiguous spans.
"""

from __future__ import annotations

from typing import Any

from soci_ci.soci.constants import DEFAULT_SPAN_SIZE
from soci_ci.startup.image import ImageLayers
from soci_ci.startup.model import StartupFiles

TAR_BLOCK = 512
MAX_PATHS_LISTED = 20


def _packed_bytes(sizes: list[int]) -> int:
    return sum(TAR_BLOCK + size + (-size % TAR_BLOCK) for size in sizes)


def suggest_order(image: ImageLayers, result: StartupFiles) -> dict[str, Any]:
    by_layer: dict[str, list[int]] = {}
    for f in result.files:
        by_layer.setdefault(f.layer, []).append(f.size)
    rows = []
    now = packed = 0
    for info, fetch in zip(image.layers, result.layers, strict=True):
        if not fetch.indexed or not fetch.spans_read:
            continue
        spans = info.spans
        span_size = (spans[0].u_end - spans[0].u_start) if spans else DEFAULT_SPAN_SIZE
        need = max(1, -(-_packed_bytes(by_layer.get(fetch.digest, [])) // max(span_size, 1)))
        rows.append({"layer": fetch.digest, "spans_read": fetch.spans_read, "packed_spans": need})
        now += fetch.spans_read
        packed += need
    order = ["(new, top) the startup files, in first-access order"] + [
        la.digest for la in result.layers
    ]
    if not rows:
        advice = "no indexed layer is read at start: nothing to gain from reordering"
    elif packed >= now:
        advice = f"the startup files already sit in {now} span(s): no better order found"
    else:
        advice = (
            f"the startup files touch {now} span(s) of {len(rows)} indexed layer(s); copied "
            f"together into one layer on top they would need about {packed}"
        )
    return {
        "label": "suggestion only; the image is not changed",
        "spans_read": now,
        "packed_spans": packed,
        "advice": advice,
        "layers": rows,
        "order": order,
        "startup_paths": [f.path for f in result.files[:MAX_PATHS_LISTED]],
    }

"""From the files a start read to what a lazy start fetches (pure).

Each file read is attributed to the layer that provides it (rootfs.py). For a layer with a
zTOC, the file costs the spans holding its bytes [offset, offset + size) (the span a lazy
loader fetches for each part of it, one range request per span, as the snapshotter's span
manager does); a span read by several files is fetched once. A layer without a zTOC is pulled
whole before the container starts, whether or not anything in it is read: one request, all
its bytes. Files are counted whole even when only part of them was read (the recording sees
opens, not offsets): an upper bound for files read partially.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from soci_ci.startup.image import ImageLayers
from soci_ci.startup.model import FileRead, LayerFetch, StartupFiles, Totals
from soci_ci.startup.recorder import Access
from soci_ci.startup.rootfs import clean_path, merge_layers


def span_ids(starts: Sequence[int], offset: int, size: int) -> range:
    """The ids of the spans holding uncompressed bytes [offset, offset + size)."""
    if size <= 0 or not starts:
        return range(0)
    first = max(bisect.bisect_right(starts, offset) - 1, 0)
    last = max(bisect.bisect_right(starts, offset + size - 1) - 1, first)
    return range(first, last + 1)


def attribute(image: ImageLayers, accesses: Sequence[Access]) -> StartupFiles:
    merged = merge_layers([layer.entries for layer in image.layers])
    starts = [[s.u_start for s in layer.spans] for layer in image.layers]
    read_spans: list[set[int]] = [set() for _ in image.layers]
    files_per_layer = [0] * len(image.layers)
    files: list[FileRead] = []
    outside: list[str] = []
    seen: set[str] = set()
    for access in accesses:
        path = clean_path(access.path)
        if path in seen:
            continue
        seen.add(path)
        provided = merged.get(path)
        if provided is None:
            outside.append("/" + path)
            continue
        layer = image.layers[provided.layer]
        entry = provided.entry
        ids: tuple[int, ...] = ()
        if layer.ztoc_digest is not None:
            ids = tuple(
                span_ids(starts[provided.layer], entry.uncompressed_offset, entry.uncompressed_size)
            )
            read_spans[provided.layer].update(ids)
        files_per_layer[provided.layer] += 1
        files.append(
            FileRead(
                path="/" + path,
                layer=layer.descriptor.digest,
                size=entry.uncompressed_size,
                kind=access.kind,
                spans=ids,
            )
        )
    layers = []
    for index, layer in enumerate(image.layers):
        indexed = layer.ztoc_digest is not None
        spans = read_spans[index]
        fetched = (
            sum(layer.spans[i].c_end - layer.spans[i].c_start for i in spans)
            if indexed
            else layer.descriptor.size
        )
        layers.append(
            LayerFetch(
                digest=layer.descriptor.digest,
                media_type=layer.descriptor.media_type,
                size=layer.descriptor.size,
                indexed=indexed,
                spans=len(layer.spans),
                spans_read=len(spans),
                fetch_bytes=fetched,
                requests=len(spans) if indexed else 1,
                files_read=files_per_layer[index],
                ztoc_digest=layer.ztoc_digest,
                ztoc_size=layer.ztoc_size,
                note=layer.note,
            )
        )
    totals = Totals(
        image_bytes=sum(layer.size for layer in layers),
        startup_files=len(files),
        startup_file_bytes=sum(f.size for f in files),
        fetch_bytes=sum(layer.fetch_bytes for layer in layers),
        fetch_requests=sum(layer.requests for layer in layers),
        ztoc_bytes=sum(layer.ztoc_size for layer in layers),
        indexed_layers=sum(1 for layer in layers if layer.indexed),
    )
    return StartupFiles(
        files=tuple(files), layers=tuple(layers), totals=totals, not_in_image=tuple(outside)
    )

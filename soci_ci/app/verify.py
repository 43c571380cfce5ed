"""`soci-ci verify`: find the image's SOCI indexes the way the snapshotter does, check each zTOC."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from soci_ci.app.index_model import TagReader
from soci_ci.errors import InputError
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.manifest import Descriptor, Index, Manifest, load_json
from soci_ci.oci.referrers import referrers_tag
from soci_ci.oci.store import BlobSizeChecker, Fetched, ImageSource, read_blob
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import IndexFormat, soci_index_format
from soci_ci.soci.layer_record import LayerRecord
from soci_ci.soci.verify import (
    BlobReader,
    LayerCheck,
    LazyStartSummary,
    quantile,
    verify_layer,
)
from soci_ci.soci.zlib_binding import Inflater

log = logging.getLogger(__name__)
LAYER_WORKERS = os.cpu_count() or 1


@dataclass(slots=True, kw_only=True)
class IndexCheck:
    platform: str
    image_digest: str
    index_digest: str
    index_format: str
    problems: list[str] = field(default_factory=list)
    layers: list[LayerCheck] = field(default_factory=list)
    image_layers: dict[str, int] = field(default_factory=dict)  # digest -> compressed size

    @property
    def ok(self) -> bool:
        return not self.problems and all(layer.ok for layer in self.layers)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    image: str
    indexes: tuple[IndexCheck, ...]
    digest: str = ""  # of the image verified (the SOCI-enabled image index for v2)

    @property
    def ok(self) -> bool:
        return bool(self.indexes) and all(i.ok for i in self.indexes)

    def summary(self, *, baseline_image_bytes: int | None = None) -> LazyStartSummary:
        layers = {d: n for i in self.indexes for d, n in i.image_layers.items()}
        indexed = {lc.layer: lc for i in self.indexes for lc in i.layers}
        costs = sorted(c for lc in indexed.values() for c in lc.costs)
        return LazyStartSummary(
            image=self.image,
            digest=self.digest,
            layers_indexed=len(indexed),
            layers_skipped=len(set(layers) - set(indexed)),
            files=len(costs),
            median_fetch=quantile(costs, 0.5),
            p90_fetch=quantile(costs, 0.9),
            indexed_bytes=sum(lc.layer_size for lc in indexed.values()),
            image_bytes=sum(layers.values()),
            baseline_image_bytes=baseline_image_bytes,
        )

    def to_json(self) -> dict[str, Any]:
        summary = self.summary()
        return {
            "image": self.image,
            "digest": self.digest,
            "ok": self.ok,
            "summary": {
                "layers_indexed": summary.layers_indexed,
                "layers_skipped": summary.layers_skipped,
                "files": summary.files,
                "lazy_fetch_median": summary.median_fetch,
                "lazy_fetch_p90": summary.p90_fetch,
                "indexed_bytes": summary.indexed_bytes,
                "image_bytes": summary.image_bytes,
            },
            "indexes": [
                {
                    "platform": i.platform,
                    "image_manifest": i.image_digest,
                    "soci_index": i.index_digest,
                    "format": i.index_format,
                    "ok": i.ok,
                    "problems": i.problems,
                    "layers": [
                        {
                            "layer": lc.layer,
                            "layer_size": lc.layer_size,
                            "ztoc": lc.ztoc,
                            "spans": lc.spans,
                            "files_total": lc.files_total,
                            "files_checked": len(lc.files),
                            "lazy_fetch_median": lc.lazy_median,
                            "lazy_fetch_p90": lc.lazy_p90,
                            "truth": lc.truth,
                            "sequential_bytes": lc.sequential_bytes,
                            "range_bytes": lc.range_bytes,
                            "range_requests": lc.range_requests,
                            "ok": lc.ok,
                            "problems": lc.problems,
                            "files": [
                                {
                                    "name": f.name,
                                    "size": f.size,
                                    "fetched": f.fetched,
                                    "requests": f.requests,
                                    "ok": f.ok,
                                }
                                for f in lc.files
                            ],
                        }
                        for lc in i.layers
                    ],
                }
                for i in self.indexes
            ],
        }


def _manifest(fetched: Fetched, what: str) -> Manifest:
    return Manifest.from_json(load_json(fetched.data, what), what)


def find_indexes(
    source: ImageSource, tag_reader: TagReader | None, root: Fetched | None = None
) -> list[tuple[str, Descriptor, Manifest, Fetched, str]]:
    """(platform, image descriptor, image manifest, SOCI index, how it was found)."""
    root = root or source.resolve()
    found = []
    if root.media_type in mt.INDEX_TYPES:
        # As the snapshotter: each image manifest names its SOCI index (v2 annotation).
        index = Index.from_json(load_json(root.data, "image index"))
        listed = {d.digest: d for d in index.manifests or ()}
        for desc in index.manifests or ():
            if desc.media_type not in mt.MANIFEST_TYPES or desc.artifact_type:
                continue
            if desc.annotation(mt.ANNOTATION_REFERENCE_TYPE) == mt.ATTESTATION_MANIFEST:
                continue
            image = _manifest(source.fetch_manifest(desc.digest), f"manifest {desc.digest}")
            if soci_index_format(None, image) is not None:
                continue  # a SOCI index entry that lost its artifactType
            index_digest = (image.annotations or {}).get(c.ANNOTATION_INDEX_DIGEST)
            if not index_digest:
                continue
            how = "v2 annotation"
            soci_desc = listed.get(index_digest)
            if soci_desc is None:
                how += " (SOCI index not listed in the image index)"
            elif soci_desc.artifact_type != c.SOCI_INDEX_V2:
                how += " (index entry lacks artifactType; older clients drop it)"
            found.append(
                (str(desc.platform or ""), desc, image, source.fetch_manifest(index_digest), how)
            )
        if not found:
            raise InputError(
                f"{source.display_name} has no image manifest with a SOCI index "
                "(com.amazon.soci.index-digest)",
                hint="verify the SOCI-enabled tag (TAG-soci) written by `soci-ci index`",
            )
        return found
    image = _manifest(root, "image manifest")
    image_desc = Descriptor(media_type=root.media_type, digest=root.digest, size=len(root.data))
    index_digest = (image.annotations or {}).get(c.ANNOTATION_INDEX_DIGEST)
    if index_digest:
        return [("", image_desc, image, source.fetch_manifest(index_digest), "v2 annotation")]
    tag = referrers_tag(root.digest)
    referrers = tag_reader.read_tag(tag) if tag_reader is not None else None
    if referrers is not None:
        index = Index.from_json(load_json(referrers.data, f"referrers tag {tag}"))
        for desc in index.manifests or ():
            if desc.artifact_type not in (None, c.SOCI_INDEX_V1):
                continue
            referrer = source.fetch_manifest(desc.digest)
            if soci_index_format(desc, _manifest(referrer, "referrer")) is IndexFormat.V1:
                found.append(("", image_desc, image, referrer, "v1 referrer"))
    if not found:
        raise InputError(
            f"no SOCI index found for {source.display_name} (no com.amazon.soci.index-digest "
            "annotation and no v1 referrer)",
            hint="run `soci-ci index` first, and verify the SOCI-enabled tag (TAG-soci) for v2",
        )
    return found


def _layer_reader(source: ImageSource, layer: Descriptor) -> BlobReader:
    sized = source if isinstance(source, BlobSizeChecker) else None  # a layout
    return BlobReader(
        open_stream=lambda: source.open_blob(layer.digest, layer.size),
        read_range=lambda start, end: source.read_blob_range(layer.digest, start, end),
        check_size=None
        if sized is None
        else lambda: sized.check_blob_size(layer.digest, layer.size),
    )


def verify_image(
    source: ImageSource,
    tag_reader: TagReader | None,
    *,
    sample: int | None,
    seed: int = 0,
    records: Mapping[str, LayerRecord] | None = None,
    paths: Sequence[str] | None = None,
    working_set: Mapping[str, Sequence[str]] | None = None,
    inflater: Inflater,
) -> VerifyReport:
    """Check every SOCI index of the image.

    `records` (layer digest -> what `index` recorded while it read the layer in this run,
    `IndexReport.records`) spare the sequential download; `paths` (a startup working set)
    are the files read lazily instead of all (or `sample`) files; `working_set` (layer
    digest -> the paths the application read from that layer at start) names them per layer
    instead; `inflater` inflates.
    """
    checks = []
    jobs: list[tuple[IndexCheck, Descriptor, Descriptor]] = []
    root = source.resolve()
    for platform, image_desc, image, soci, how in find_indexes(source, tag_reader, root):
        index = _manifest(soci, f"SOCI index {soci.digest}")
        # What the snapshotter checks when it loads an index: the config media type alone.
        fmt = {c.SOCI_INDEX_V1: "v1", c.SOCI_INDEX_V2: "v2"}.get(index.config.media_type, "?")
        check = IndexCheck(
            platform=platform,
            image_digest=image_desc.digest,
            index_digest=soci.digest,
            index_format=fmt,
        )
        check.image_layers = {layer.digest: layer.size for layer in image.layers or ()}
        checks.append(check)
        log.info("checking SOCI index %s (%s, found by %s)", soci.digest[:19], fmt, how)
        if fmt == "?":
            check.problems.append(
                f"unknown index version: config media type {index.config.media_type!r}"
            )
            continue
        if fmt == "v2" and (image.annotations or {}).get(c.ANNOTATION_INDEX_DIGEST) != soci.digest:
            check.problems.append(
                "the image manifest does not carry com.amazon.soci.index-digest "
                "for this index: Fargate would not find it"
            )
        layers = {layer.digest: layer for layer in image.layers or ()}
        for desc in index.layers or ():
            if desc.media_type != c.ZTOC_MEDIA_TYPE:
                continue
            layer_digest = desc.annotation(c.ANNOTATION_IMAGE_LAYER_DIGEST) or ""
            layer = layers.get(layer_digest)
            if layer is None:
                check.problems.append(
                    f"zTOC {desc.digest} names layer {layer_digest}, not in the image"
                )
                continue
            jobs.append((check, layer, desc))

    if working_set is not None and not set(working_set) & {layer.digest for _, layer, _ in jobs}:
        # The working set names other layer digests (e.g. measured from layers the engine
        # compressed itself): check its files by path in every layer instead of none.
        paths = tuple(p for layer_paths in working_set.values() for p in layer_paths)
        working_set = None

    def one(job: tuple[IndexCheck, Descriptor, Descriptor]) -> LayerCheck:
        _, layer, desc = job
        record = (records or {}).get(layer.digest)
        if record is not None and record.ztoc and sha256_digest(record.ztoc) == desc.digest:
            ztoc = record.ztoc  # the bytes this run pushed under that digest: not read back
        else:
            ztoc = read_blob(source, desc.digest, desc.size)
        result = verify_layer(
            layer,
            ztoc,
            desc.digest,
            _layer_reader(source, layer),
            sample=sample,
            seed=seed,
            record=record,
            paths=paths if working_set is None else tuple(working_set.get(layer.digest, ())),
            inflater=inflater,
        )
        log.info(
            "  layer %s: %d spans, %d/%d files checked, %s (truth: %s; %.1f MB read "
            "sequentially, %.1f MB in %d range requests)",
            layer.digest[:19],
            result.spans,
            len(result.files),
            result.files_total,
            "ok" if result.ok else "PROBLEMS",
            {"record": "this run's index read", "ranges": "the spans' range reads, chained"}.get(
                result.truth, "a read of the layer"
            ),
            result.sequential_bytes / 1e6,
            result.range_bytes / 1e6,
            result.range_requests,
        )
        return result

    # Layers are checked in parallel (as the index step builds them): each is network- and
    # inflate-bound, and inflate and hashing release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(LAYER_WORKERS, len(jobs)))) as pool:
        for (check, _, _), result in zip(jobs, pool.map(one, jobs), strict=True):
            check.layers.append(result)
    return VerifyReport(image=source.display_name, indexes=tuple(checks), digest=root.digest)

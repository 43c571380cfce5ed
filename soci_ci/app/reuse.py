"""The rerun pre-check of `soci-ci index`: find an equivalent SOCI index before any download.

A rerun on an image that is already SOCI-enabled must not download its layers again. Before a
single layer is read, the destination is asked for what this run would produce:

- v2: the tag of the SOCI-enabled image must point at exactly the image index this run would
  write. Everything in it except the zTOC digests can be recomputed from the source manifests,
  so each platform's SOCI index manifest is fetched, rebuilt from its own zTOC descriptors
  with this run's options (same layers in the same order, layer media types, span size, build
  tool identifier, format, xattr marks) and compared byte for byte; then the conversion is
  recomputed from those index manifests and must give the tag's digest.
- v1: for each image manifest, a SOCI v1 index listed by the referrers API (or the
  `sha256-<hex>` fallback tag) must rebuild to the same bytes with this manifest as `subject`.

Then every object of the graph is checked with `HEAD` (manifests, zTOC blobs, the `{}` config).
Anything missing, different or unparseable means "not reusable" and the caller does the full
run, which completes an interrupted one. Only zTOC bytes are trusted without rebuilding them:
they were written by a run with the same build tool identifier for the same layer digest.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from soci_ci.app.index_model import IndexOptions, LayerReport, Selection, TagReader, Target
from soci_ci.errors import InputError, RegistryError
from soci_ci.oci import media_types as mt
from soci_ci.oci.manifest import Descriptor, Index, Manifest, load_json
from soci_ci.oci.referrers import referrers_tag
from soci_ci.oci.store import Fetched, ImageSource, read_blob
from soci_ci.soci import constants as c
from soci_ci.soci.convert import Conversion, PlatformSoci, convert
from soci_ci.soci.index_manifest import (
    IndexFormat,
    ZtocRef,
    listed_soci_index,
    soci_index_format,
    soci_index_manifest,
)
from soci_ci.soci.xattrs import xattrs_can_be_disabled
from soci_ci.soci.ztoc_reader import parse_ztoc

log = logging.getLogger(__name__)

MAX_ZTOC_READ = 64 << 20  # a zTOC read back only to settle the xattr mark
HEAD_WORKERS = 8


class Destination(ImageSource, TagReader, Protocol):
    """Where the SOCI index goes (the same registry repository or layout as the image)."""

    def has_blob(self, digest: str) -> bool: ...

    def has_manifest(self, digest: str) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Reused:
    """An equivalent SOCI index found in the destination, and what it is made of."""

    soci_indexes: dict[str, str]  # platform -> SOCI index manifest digest
    layers: tuple[LayerReport, ...]  # per platform and layer, zTOCs from the index descriptors
    conversion: Conversion | None  # v2: the SOCI-enabled image (its digest = the tag's)
    checked: int  # objects found present


@dataclass(frozen=True, slots=True, kw_only=True)
class _Match:
    target: Target
    index: Fetched
    refs: tuple[ZtocRef, ...]


class NotReusable(Exception):
    """Internal: why the existing index cannot stand for this run (the full run follows)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReuseRequest:
    """What this run would write: the settings that shape the SOCI index bytes, and the
    platforms and layers it indexes."""

    index_format: IndexFormat
    tag: str | None  # v2: the tag of the SOCI-enabled image
    span_size: int
    build_tool_identifier: str
    optimize_xattrs: bool
    selection: Selection

    @classmethod
    def of(cls, options: IndexOptions, selection: Selection) -> ReuseRequest:
        return cls(
            index_format=options.index_format,
            tag=options.tag,
            span_size=options.span_size,
            build_tool_identifier=options.build_tool_identifier,
            optimize_xattrs=options.optimize_xattrs,
            selection=selection,
        )


def find_reusable(dest: Destination, request: ReuseRequest) -> Reused | None:
    """The existing SOCI index this run would write, complete in `dest`; else None."""
    selection = request.selection
    try:
        check = _Checker(dest, request)
        wanted = [
            (target, [layer for layer, reason in rows if reason is None])
            for target, rows in selection.platforms()
        ]
        wanted = [(t, layers) for t, layers in wanted if layers]
        if not wanted:
            raise NotReusable("no layer to index")
        if request.index_format is IndexFormat.V2:
            matches, conversion = check.v2(request.tag, wanted, selection.original_index)
        else:
            matches, conversion = check.v1(wanted), None
        checked = check.complete(matches, conversion)
    except NotReusable as exc:
        log.info("no reusable SOCI index (%s): indexing the layers", exc)
        return None
    except (InputError, RegistryError) as exc:
        log.info("existing SOCI index unreadable (%s): indexing the layers", exc.message)
        return None
    return Reused(
        soci_indexes={str(m.target.platform): m.index.digest for m in matches},
        layers=_layer_reports(selection, matches),
        conversion=conversion,
        checked=checked,
    )


class _Checker:
    def __init__(self, dest: Destination, request: ReuseRequest) -> None:
        self.dest = dest
        self.request = request

    def v2(
        self,
        tag: str | None,
        wanted: list[tuple[Target, list[Descriptor]]],
        original_index: Index | None,
    ) -> tuple[list[_Match], Conversion]:
        if tag is None:
            raise NotReusable("no destination tag")
        current = self.dest.read_tag(tag)
        if current is None:
            raise NotReusable(f"tag {tag} does not exist")
        if current.media_type not in mt.INDEX_TYPES:
            raise NotReusable(f"tag {tag} is not an image index")
        existing = _index(current, f"tag {tag}")
        matches = []
        for target, layers in wanted:
            candidates = [
                d
                for d in existing.manifests or ()
                if listed_soci_index(d)
                and d.platform is not None
                and d.platform.matches(target.platform)
            ]
            matches.append(self._first_match(target, layers, candidates, subject=None))
        conversion = convert(
            [
                PlatformSoci(
                    image=m.target.image,
                    manifest=m.target.manifest,
                    platform=m.target.platform,
                    soci_index=m.index.data,
                )
                for m in matches
            ],
            original_index,
        )
        if conversion.index_digest != current.digest:
            if current.data != without_artifact_types(conversion.index):
                raise NotReusable(f"tag {tag} points at another image index")
            # The same image index as copied by an image-spec 1.0 client (skopeo 1.9), which
            # drops `artifactType`: equivalent for every consumer (they find the SOCI index
            # through the manifest annotation), so it stays.
            conversion = replace(conversion, index=current.data, index_digest=current.digest)
        return matches, conversion

    def v1(self, wanted: list[tuple[Target, list[Descriptor]]]) -> list[_Match]:
        matches = []
        for target, layers in wanted:
            subject = Descriptor(
                media_type=target.image.media_type,
                digest=target.image.digest,
                size=target.image.size,
            )
            listed = self.dest.read_tag(referrers_tag(target.image.digest))
            if listed is None:
                raise NotReusable(f"no referrers of {target.image.digest[:19]}")
            candidates = [
                d
                for d in _index(listed, "referrers").manifests or ()
                if d.artifact_type in (None, c.SOCI_INDEX_V1)  # copies may drop it
            ]
            matches.append(self._first_match(target, layers, candidates, subject=subject))
        return matches

    def _first_match(
        self,
        target: Target,
        layers: list[Descriptor],
        candidates: list[Descriptor],
        *,
        subject: Descriptor | None,
    ) -> _Match:
        for desc in candidates:
            if desc.media_type != mt.OCI_MANIFEST:
                continue
            fetched = self.dest.fetch_manifest(desc.digest)
            refs = self._rebuild(fetched.data, layers, subject)
            if refs is not None:
                return _Match(target=target, index=fetched, refs=refs)
        raise NotReusable(f"no equivalent SOCI index for {target.platform}")

    def _rebuild(
        self, data: bytes, layers: list[Descriptor], subject: Descriptor | None
    ) -> tuple[ZtocRef, ...] | None:
        """The zTOC refs if `data` is exactly the index this run would write, else None."""
        manifest = Manifest.from_json(load_json(data, "SOCI index"), "SOCI index")
        if soci_index_format(None, manifest) is not self.request.index_format:
            return None
        by_layer: dict[str, Descriptor] = {}
        for desc in manifest.layers or ():
            layer_digest = desc.annotation(c.ANNOTATION_IMAGE_LAYER_DIGEST)
            if layer_digest is None or layer_digest in by_layer:
                return None
            by_layer[layer_digest] = desc
        if set(by_layer) != {layer.digest for layer in layers} or len(by_layer) != len(layers):
            return None
        refs = []
        for layer in layers:
            desc = by_layer[layer.digest]
            disable = self.request.optimize_xattrs and (
                desc.annotation(c.ANNOTATION_DISABLE_XATTRS) == "true"
                or self._ztoc_allows_disabling_xattrs(desc)
            )
            refs.append(
                ZtocRef(
                    layer=layer,
                    digest=desc.digest,
                    size=desc.size,
                    span_size=self.request.span_size,
                    disable_xattrs=disable,
                )
            )
        expected = soci_index_manifest(
            index_format=self.request.index_format,
            ztocs=refs,
            build_tool_identifier=self.request.build_tool_identifier,
            subject=subject,
        ).to_json()
        return tuple(refs) if expected == data else None

    def _ztoc_allows_disabling_xattrs(self, desc: Descriptor) -> bool:
        """Read the (small) zTOC: would `--optimizations xattr` mark its layer?"""
        ztoc = parse_ztoc(read_blob(self.dest, desc.digest, desc.size, limit=MAX_ZTOC_READ))
        return xattrs_can_be_disabled(ztoc.entries)

    def complete(self, matches: list[_Match], conversion: Conversion | None) -> int:
        """HEAD every object of the graph, concurrently; the SOCI index manifests were just
        fetched."""
        manifests = list(conversion.manifest_digests.values()) if conversion else []
        blobs = sorted({c.EMPTY_CONFIG_DIGEST} | {r.digest for m in matches for r in m.refs})
        checks = [(d, "manifest", self.dest.has_manifest) for d in manifests]
        checks += [(d, "blob", self.dest.has_blob) for d in blobs]
        with ThreadPoolExecutor(max_workers=max(1, min(HEAD_WORKERS, len(checks)))) as pool:
            found = list(pool.map(lambda check: check[2](check[0]), checks))
        for (digest, what, _), there in zip(checks, found, strict=True):
            if not there:
                raise NotReusable(f"{what} {digest[:19]} is missing")
        return len(matches) + len(checks) + (1 if conversion else 0)


def without_artifact_types(data: bytes) -> bytes:
    """The image index as a client on image-spec 1.0 re-serializes it: no `artifactType`."""
    index = Index.from_json(load_json(data, "image index"))
    return replace(
        index,
        artifact_type=None,
        manifests=tuple(replace(d, artifact_type=None) for d in index.manifests or ()),
    ).to_json()


def _index(fetched: Fetched, what: str) -> Index:
    return Index.from_json(load_json(fetched.data, what), what)


def _layer_reports(selection: Selection, matches: list[_Match]) -> tuple[LayerReport, ...]:
    refs = {(m.target.image.digest, r.layer.digest): r for m in matches for r in m.refs}
    reports = []
    for target, trows in selection.platforms():
        platform = str(target.platform)
        for layer, reason in trows:
            ref = refs.get((target.image.digest, layer.digest))
            reports.append(
                LayerReport.of(
                    platform,
                    layer,
                    skipped=reason,
                    ztoc_digest=ref.digest if ref else None,
                    ztoc_size=ref.size if ref else None,
                )
            )
    return tuple(reports)

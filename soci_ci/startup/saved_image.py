"""A local image (`docker save` through the engine's API) as an OCI layout of what a push would
produce: each layer gzip-compressed, an OCI manifest over the engine's exact image config.

The engine writes one of three archives, all handled here, read as one stream (constant
memory: no layer is ever held in memory, each goes straight to a file in the temporary
directory the caller owns and removes):

- Docker Engine < 25: the legacy format, `<id>/layer.tar` (uncompressed) per layer,
  `<config digest>.json`, and `manifest.json` naming them (written last);
- Engine >= 25 with its own store: an OCI layout, `blobs/sha256/<diff id>` (uncompressed),
  `index.json`, and the same legacy `manifest.json`;
- Engine >= 25 with the containerd image store: the same, but the layer blobs are the
  content store's, usually gzip (sometimes zstd) already.

Each regular member is classified by its first bytes (a tar header, gzip, zstd, or else a
small document kept in memory up to `limits.STARTUP_MAX_CONFIG_BYTES`). An uncompressed layer
is hashed (its diff id) and gzip-compressed as a push would (level 6, the engine's default);
a compressed one is kept as it is (a push sends it unchanged) and, for gzip, decompressed on
the way to check its diff id. Then `manifest.json` says which members are the image's config
and layers; the config's `rootfs.diff_ids` must equal the engine's image and every layer's.
The compressed sizes and digests are therefore computed here, not read from a registry.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from soci_ci import limits
from soci_ci.errors import InputError, LayerError
from soci_ci.oci import media_types as mt
from soci_ci.oci.manifest import Descriptor, Index, Manifest, Platform, descriptor_for, load_json
from soci_ci.soci.tar_toc import TarWalker

GZIP_LEVEL = 6  # what `docker push` uses (Go's gzip.DefaultCompression)
CHUNK = 1 << 20
MAX_DOCUMENT = limits.STARTUP_MAX_CONFIG_BYTES  # a config, manifest.json, a v1 `json` file
MAX_DOCUMENTS_TOTAL = 64 * limits.MiB
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HINT = "the Docker engine's `docker save` archive of the image was not as expected"


class LayerKind(StrEnum):
    TAR = "tar"  # uncompressed: gzip-compressed here
    GZIP = "gzip"  # the engine's compressed blob (containerd store): kept as it is
    ZSTD = "zstd"


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedLayer:
    kind: LayerKind
    path: Path  # the blob as a push would send it (in the work directory)
    digest: str
    size: int
    diff_id: str | None  # None: not checked (zstd)

    @property
    def media_type(self) -> str:
        return mt.OCI_LAYER_ZSTD if self.kind is LayerKind.ZSTD else mt.OCI_LAYER_GZIP


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedImage:
    layout: Path  # an OCI layout directory holding exactly this image
    manifest_digest: str  # of the manifest written here (computed, not a registry's)
    layers: tuple[SavedLayer, ...]

    @property
    def gzipped_here(self) -> int:
        return sum(1 for layer in self.layers if layer.kind is LayerKind.TAR)


class _ChunkStream:
    """An iterator of byte chunks as the tar walker's stream (`read` exactly n, `skip`)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buf = b""
        self._at = 0

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf = self._buf[self._at :] + chunk
                self._at = 0
                return True
        return False

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0:
            if self._at >= len(self._buf) and not self._fill():
                break
            piece = self._buf[self._at : self._at + n]
            self._at += len(piece)
            n -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def skip(self, n: int) -> int:
        done = 0
        while done < n:
            piece = self.read(min(n - done, CHUNK))
            if not piece:
                break
            done += len(piece)
        return done


def _is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar" or head[:512] == bytes(512):
        return True
    # a v7 header: its checksum matches
    try:
        stored = int(head[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(head[:148]) + 8 * 32 + sum(head[156:512])


class _Inflater:
    """gzip members in, the sha256 of their content (the diff id) out; bounded output."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self._d = zlib.decompressobj(31)
        self._done = False  # after the last member: the rest is padding

    def feed(self, data: bytes) -> None:
        while data and not self._done:
            if self._d.eof:
                if data[:2] != _GZIP_MAGIC:
                    self._done = True
                    return
                self._d = zlib.decompressobj(31)
            self.hash.update(self._d.decompress(data, CHUNK))
            data = self._d.unused_data if self._d.eof else self._d.unconsumed_tail

    def finish(self) -> str:
        if not self._d.eof:
            raise zlib.error("truncated gzip stream")
        return "sha256:" + self.hash.hexdigest()


def _write_layer(pieces: Iterator[bytes], head: bytes, kind: LayerKind, work: Path) -> SavedLayer:
    fd, name = tempfile.mkstemp(prefix="layer-", dir=work)
    blob = hashlib.sha256()
    diff = hashlib.sha256() if kind is LayerKind.TAR else None
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if diff is not None else None
    inflater = _Inflater() if kind is LayerKind.GZIP else None
    size = 0
    with os.fdopen(fd, "wb") as out:

        def emit(data: bytes) -> None:
            nonlocal size
            if data:
                blob.update(data)
                out.write(data)
                size += len(data)

        try:
            for piece in itertools.chain((head,), pieces):
                if compressor is not None and diff is not None:
                    diff.update(piece)
                    emit(compressor.compress(piece))
                else:
                    emit(piece)
                    if inflater is not None:
                        inflater.feed(piece)
            if compressor is not None:
                emit(compressor.flush())
            diff_id = (
                "sha256:" + diff.hexdigest()
                if diff is not None
                else (inflater.finish() if inflater is not None else None)
            )
        except zlib.error as exc:
            raise InputError(f"a gzip layer of the saved image is corrupt: {exc}") from None
    return SavedLayer(
        kind=kind,
        path=Path(name),
        digest="sha256:" + blob.hexdigest(),
        size=size,
        diff_id=diff_id,
    )


def _head(pieces: Iterator[bytes], want: int = 512) -> bytes:
    head = b""
    for piece in pieces:
        head += piece
        if len(head) >= want:
            break
    return head


def _read_members(
    chunks: Iterable[bytes], work: Path
) -> tuple[dict[str, SavedLayer], dict[str, bytes], dict[str, str]]:
    """(layers, small documents, symbolic links) by member name."""
    walker = TarWalker(_ChunkStream(chunks), special_total=limits.MAX_ARCHIVE_SPECIAL)
    layers: dict[str, SavedLayer] = {}
    documents: dict[str, bytes] = {}
    links: dict[str, str] = {}
    members = 0
    kept = 0
    while (entry := walker.next()) is not None:
        members += 1
        if members > limits.MAX_ARCHIVE_MEMBERS:
            raise InputError(f"the saved image has more than {limits.MAX_ARCHIVE_MEMBERS} members")
        name = _member_name(entry.name)
        if entry.type == b"symlink":
            links[name] = os.fsdecode(entry.linkname)
            continue
        if entry.type != b"reg":
            continue
        pieces = walker.data(CHUNK)
        head = _head(pieces)
        if head[:2] == _GZIP_MAGIC:
            layers[name] = _write_layer(pieces, head, LayerKind.GZIP, work)
        elif head[:4] == _ZSTD_MAGIC:
            layers[name] = _write_layer(pieces, head, LayerKind.ZSTD, work)
        elif _is_tar(head):
            layers[name] = _write_layer(pieces, head, LayerKind.TAR, work)
        elif entry.uncompressed_size <= MAX_DOCUMENT:
            data = head + b"".join(pieces)
            kept += len(data)
            if kept > MAX_DOCUMENTS_TOTAL:
                raise InputError("the saved image holds more small documents than expected")
            documents[name] = data
        else:
            for _ in pieces:  # neither a layer nor a document: not ours to read
                pass
    return layers, documents, links


def _member_name(raw: bytes) -> str:
    parts: list[str] = []
    for part in os.fsdecode(raw).split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/".join(parts)


def _follow(name: str, links: dict[str, str]) -> str:
    for _ in range(8):
        target = links.get(name)
        if target is None:
            return name
        base = name.rpartition("/")[0] if not target.startswith("/") else ""
        name = _member_name(f"{base}/{target}".encode())
    return name


def _diff_ids(config: bytes) -> list[str] | None:
    obj = load_json(config, "image config", limit=MAX_DOCUMENT)
    rootfs = obj.get("rootfs") if isinstance(obj, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        return ids
    return None


def _entries(documents: dict[str, bytes]) -> list[dict[str, object]]:
    data = documents.get("manifest.json")
    if data is None:
        raise InputError("the saved image has no manifest.json", hint=_HINT)
    entries = load_json(data, "manifest.json of the saved image", limit=MAX_DOCUMENT)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError("manifest.json of the saved image is not a list of images", hint=_HINT)
    return entries


def save_layout(
    chunks: Iterable[bytes], work: Path, *, diff_ids: Sequence[str], platform: Platform
) -> SavedImage:
    """Read the `docker save` stream `chunks` into an OCI layout under `work` (which the caller
    removes): the image whose config has `diff_ids`, its layers as a push would send them."""
    blobs = work / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    try:
        layers, documents, links = _read_members(chunks, work)
    except LayerError as exc:
        raise InputError(f"cannot read the saved image: {exc.message}", hint=_HINT) from None
    wanted = list(diff_ids)
    for entry in _entries(documents):
        config_name = entry.get("Config")
        names = entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(names, list):
            continue
        config = documents.get(_follow(_member_name(config_name.encode()), links))
        if config is None or _diff_ids(config) != wanted or len(names) != len(wanted):
            continue
        chosen = []
        for name, diff_id in zip(names, wanted, strict=True):
            layer = layers.get(_follow(_member_name(str(name).encode()), links))
            if layer is None:
                raise InputError(f"the saved image lacks its layer {name!r}", hint=_HINT)
            if layer.diff_id is not None and layer.diff_id != diff_id:
                raise InputError(
                    f"a layer of the saved image has diff id {layer.diff_id}, not {diff_id}",
                    hint=_HINT,
                )
            chosen.append(layer)
        return _write_layout(work, config, chosen, platform)
    raise InputError(
        "the saved image has no image with the engine's layers (rootfs.diff_ids)", hint=_HINT
    )


def _write_layout(
    work: Path, config: bytes, layers: Sequence[SavedLayer], platform: Platform
) -> SavedImage:
    blobs = work / "blobs" / "sha256"
    for layer in dict.fromkeys(layers):
        target = blobs / layer.digest.removeprefix("sha256:")
        if not target.exists():
            layer.path.replace(target)
    config_desc = descriptor_for(config, mt.OCI_CONFIG)
    (blobs / config_desc.digest.removeprefix("sha256:")).write_bytes(config)
    manifest = Manifest(
        config=config_desc,
        layers=tuple(
            Descriptor(media_type=la.media_type, digest=la.digest, size=la.size) for la in layers
        ),
    ).to_json()
    manifest_desc = descriptor_for(manifest, mt.OCI_MANIFEST, platform=platform)
    (blobs / manifest_desc.digest.removeprefix("sha256:")).write_bytes(manifest)
    (work / "index.json").write_bytes(Index(manifests=(manifest_desc,)).to_json())
    (work / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    for leftover in work.glob("layer-*"):  # members that are not this image's layers
        leftover.unlink()
    return SavedImage(layout=work, manifest_digest=manifest_desc.digest, layers=tuple(layers))

"""Which layer provides each path of the image's rootfs (pure).

The layers are applied bottom to top as the OCI image spec says (and overlayfs does): a
`.wh.NAME` entry removes NAME (and everything under it) from the layers below, a
`.wh..wh..opq` entry removes everything below in its directory, a non-directory replaces a
directory of the layers below with everything in it, and a later entry replaces an earlier one.
Hard links are followed to the entry that holds the data (in the same layer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from soci_ci.soci.tar_toc import FileMetadata

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_LINK_HOPS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Provided:
    layer: int  # index in the manifest's layer list (0: the bottom layer)
    entry: FileMetadata  # the entry holding the data (a hard link is followed)


def clean_path(name: bytes | str) -> str:
    """A tar entry name or an absolute path as `a/b/c` (no leading `/` or `./`)."""
    text = name.decode("utf-8", "surrogateescape") if isinstance(name, bytes) else name
    parts = [p for p in text.split("/") if p and p != "."]
    out: list[str] = []
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    return "/".join(out)


def _under(path: str, removed: set[str]) -> bool:
    at = path
    while at:
        if at in removed:
            return True
        at = at.rpartition("/")[0]
    return False


def merge_layers(layers: Sequence[Sequence[FileMetadata]]) -> dict[str, Provided]:
    """Path -> the layer and entry a container sees there (regular files and links)."""
    merged: dict[str, tuple[int, FileMetadata]] = {}
    for index, entries in enumerate(layers):
        removed: set[str] = set()  # whole subtrees hidden from the layers below
        opaque: set[str] = set()  # directories whose lower content is hidden
        named: dict[str, FileMetadata] = {}
        for entry in entries:
            path = clean_path(entry.name)
            if not path:
                continue
            parent, _, base = path.rpartition("/")
            if base == OPAQUE:
                opaque.add(parent)
            elif base.startswith(WHITEOUT):
                removed.add(f"{parent}/{base[len(WHITEOUT) :]}" if parent else base[4:])
            else:
                named[path] = entry
        for path, entry in named.items():
            if entry.type != b"dir":
                removed.add(path)  # a file replaces a lower directory and its content
        if removed or opaque:
            for path in [p for p in merged if _under(p, removed) or _in_opaque(p, opaque)]:
                del merged[path]
        for path, entry in named.items():
            merged[path] = (index, entry)
    names: dict[int, dict[str, FileMetadata]] = {}  # per layer, built on its first hard link

    def by_name(layer: int) -> dict[str, FileMetadata]:
        if layer not in names:
            names[layer] = {clean_path(e.name): e for e in layers[layer]}
        return names[layer]

    return {
        path: Provided(
            layer=layer,
            entry=_follow(entry, by_name(layer)) if entry.type == b"hardlink" else entry,
        )
        for path, (layer, entry) in merged.items()
        if entry.type in (b"reg", b"hardlink")
    }


def _in_opaque(path: str, opaque: set[str]) -> bool:
    parent = path.rpartition("/")[0]
    while True:
        if parent in opaque:
            return True
        if not parent:
            return False
        parent = parent.rpartition("/")[0]


def _follow(entry: FileMetadata, by_name: dict[str, FileMetadata]) -> FileMetadata:
    """The entry a hard link's chain ends at, in the same layer (`by_name`: its entries)."""
    current = entry
    for _ in range(MAX_LINK_HOPS):
        target = by_name.get(clean_path(current.linkname))
        if target is None:
            return current
        if target.type != b"hardlink":
            return target
        current = target
    return current

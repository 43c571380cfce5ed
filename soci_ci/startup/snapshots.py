"""A container's rootfs directories on the containerd image store (overlayfs snapshotter).

Docker Engine's containerd image store (`docker info`: driver-type io.containerd.snapshotter.v1,
storage driver `overlayfs`) does not report the container's directories (GraphDriver.Data is
empty). They are in the overlayfs snapshotter's own metadata, a bbolt database
`io.containerd.snapshotter.v1.overlayfs/metadata.db` under containerd's root: bucket `v1` ->
`snapshots` -> one bucket per snapshot key (`<namespace>/<n>/<name>`; the container's active
snapshot is named by the container id) with `id` (uvarint: the directory
`snapshots/<id>/fs`) and `parent` (the parent's key). The chain from the container's snapshot
to the base layer, topmost first, is exactly the overlay mount's upper then lower directories.

containerd's root is `<DockerRootDir>/containerd/daemon` when dockerd starts its own containerd,
else the system containerd's `/var/lib/containerd` (Docker's packages). The database is read
as a file while containerd has it open: bbolt writes copy-on-write and switches between two
meta pages, so the newest valid meta page names a consistent tree; a read that meets a page
being rewritten fails its checks and is retried. Standard library only (the recorder helper).
"""
# ruff: noqa: PTH113, PTH118, PTH123

from __future__ import annotations

import os
import struct
import time

SNAPSHOTTER = "io.containerd.snapshotter.v1.overlayfs"
SYSTEM_ROOT = "/var/lib/containerd"
MAX_DB = 256 << 20
MAX_CHAIN = 256  # more layers than any engine allows (moby: 125)
MAX_DEPTH = 32
_MAGIC = 0xED0CDAED
_BRANCH, _LEAF, _META = 0x01, 0x02, 0x04
_BUCKET = 0x01


class SnapshotError(OSError):
    pass


def roots(docker_root: str) -> list[str]:
    """Where the snapshotter may be, in the order tried."""
    return [
        os.path.join(docker_root, "containerd", "daemon", SNAPSHOTTER),
        os.path.join(SYSTEM_ROOT, SNAPSHOTTER),
    ]


class _Bolt:
    """Read-only bbolt: buckets as {key: value | nested bucket}, read on demand."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        if len(data) < 64:
            raise SnapshotError("not a bbolt database")
        page_size = struct.unpack_from("<I", data, 24)[0]  # meta page 0's page size
        if page_size not in {1 << s for s in range(9, 17)}:
            raise SnapshotError("not a bbolt database")
        good = [m for m in (self._meta(0), self._meta(page_size)) if m is not None]
        if not good:
            raise SnapshotError("no valid bbolt meta page")
        self.page_size = page_size
        self.root = max(good)[1]

    def _meta(self, offset: int) -> tuple[int, int] | None:
        """(txid, root page) of the meta page at `offset`, if its magic and checksum hold."""
        start = offset + 16
        if start + 64 > len(self.data):
            return None
        magic, _version, _size, _flags, root, _seq, _free, _pgid, txid, checksum = (
            struct.unpack_from("<IIIIQQQQQQ", self.data, start)
        )
        if magic != _MAGIC or _fnv64a(self.data[start : start + 56]) != checksum:
            return None
        return txid, root

    def _items(
        self, buf: bytes, base: int, depth: int, seen: set[int]
    ) -> list[tuple[bytes, bytes, bool]]:
        if depth > MAX_DEPTH or base + 16 > len(buf):
            raise SnapshotError("bbolt page out of range")
        _id, flags, count, _overflow = struct.unpack_from("<QHHI", buf, base)
        out: list[tuple[bytes, bytes, bool]] = []
        for i in range(count):
            elem = base + 16 + i * 16
            if elem + 16 > len(buf):
                raise SnapshotError("bbolt element out of range")
            if flags & _BRANCH:
                _pos, _ksize, child = struct.unpack_from("<IIQ", buf, elem)
                out += self._page(child, depth + 1, seen)
            elif flags & _LEAF:
                item_flags, pos, ksize, vsize = struct.unpack_from("<IIII", buf, elem)
                start = elem + pos
                if start + ksize + vsize > len(buf):
                    raise SnapshotError("bbolt value out of range")
                key = buf[start : start + ksize]
                value = buf[start + ksize : start + ksize + vsize]
                out.append((key, value, bool(item_flags & _BUCKET)))
            else:
                raise SnapshotError("unexpected bbolt page")
        return out

    def _page(self, pgid: int, depth: int, seen: set[int]) -> list[tuple[bytes, bytes, bool]]:
        if pgid in seen or pgid < 2:  # a tree never holds a page twice, nor a meta page
            raise SnapshotError("bbolt page loop")
        seen.add(pgid)
        return self._items(self.data, pgid * self.page_size, depth, seen)

    def bucket(self, value: bytes | None) -> dict[bytes, tuple[bytes, bool]]:
        """The items of the bucket whose header is `value` (None: the root bucket)."""
        seen: set[int] = set()
        if value is None:
            items = self._page(self.root, 0, seen)
        else:
            if len(value) < 16:
                raise SnapshotError("short bbolt bucket header")
            root = struct.unpack_from("<Q", value, 0)[0]
            items = self._items(value, 16, 0, seen) if root == 0 else self._page(root, 0, seen)
        return {key: (val, is_bucket) for key, val, is_bucket in items}

    def sub(
        self, items: dict[bytes, tuple[bytes, bool]], name: bytes
    ) -> dict[bytes, tuple[bytes, bool]]:
        found = items.get(name)
        if found is None or not found[1]:
            raise SnapshotError(f"no bucket {name.decode(errors='replace')}")
        return self.bucket(found[0])


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _uvarint(data: bytes) -> int:
    value = shift = 0
    for byte in data[:10]:
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7
    raise SnapshotError("bad snapshot id")


def chain(db: bytes, container_id: str) -> list[int]:
    """The snapshot ids of the container's rootfs, its own snapshot first."""
    bolt = _Bolt(db)
    snaps = bolt.sub(bolt.sub(bolt.bucket(None), b"v1"), b"snapshots")
    suffix = b"/" + container_id.encode("ascii")
    mine = [key for key in snaps if key.endswith(suffix) and key.count(b"/") == 2]
    if len(mine) != 1:
        raise SnapshotError(f"no snapshot of container {container_id[:12]} in the snapshotter")
    ids: list[int] = []
    key: bytes | None = mine[0]
    while key is not None:
        if len(ids) >= MAX_CHAIN:
            raise SnapshotError("snapshot chain too long")
        fields = bolt.sub(snaps, key)
        ids.append(_uvarint(fields.get(b"id", (b"", False))[0]))
        parent = fields.get(b"parent")
        key = parent[0] if parent is not None and parent[0] else None
    return ids


def rootfs_dirs(docker_root: str, container_id: str, attempts: int = 5) -> list[str]:
    """The `fs` directories of the container's snapshot chain, topmost first."""
    if len(container_id) != 64 or any(c not in "0123456789abcdef" for c in container_id):
        raise SnapshotError("unexpected container id")
    last: SnapshotError | None = None
    for root in roots(docker_root):
        path = os.path.join(root, "metadata.db")
        if not os.path.isfile(path):
            continue
        for _ in range(attempts):
            try:
                with open(path, "rb") as fh:
                    db = fh.read(MAX_DB + 1)
                if len(db) > MAX_DB:
                    raise SnapshotError(f"{path} is larger than {MAX_DB >> 20} MiB")
                return [
                    os.path.join(root, "snapshots", str(i), "fs") for i in chain(db, container_id)
                ]
            except (SnapshotError, struct.error) as exc:
                last = SnapshotError(f"{path}: {exc}")
                time.sleep(0.05)
    raise last or SnapshotError(
        f"no containerd overlayfs snapshotter under {' or '.join(roots(docker_root))}"
    )

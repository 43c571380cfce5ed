"""The containerd image store's snapshot chain, from a real overlayfs snapshotter database.

tests/data/containerd/overlayfs-metadata.db.gz is the `metadata.db` of Debian 13's dockerd
26.1 (containerd 1.6, containerd image store) after building an image and creating 43
containers from it (so the `snapshots` bucket spans branch pages). CONTAINER was then running,
and the kernel's overlay mount of its rootfs (/proc/PID/mountinfo) read
`lowerdir=98/fs:5/fs:2/fs:1/fs,upperdir=99/fs` under `snapshots/`: that is the expected chain.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import struct
from pathlib import Path

import pytest

from soci_ci.startup import snapshots
from soci_ci.startup.recorder import resolve_dirs
from soci_ci.startup.snapshots import SnapshotError, chain

DB = gzip.decompress(
    (Path(__file__).parents[1] / "data" / "containerd" / "overlayfs-metadata.db.gz").read_bytes()
)
CONTAINER = "b3b5833537af491c9ee1fa66f76ef9c64350555f143ce0d55b66356d05cf7dcd"
MOUNTED = [99, 98, 5, 2, 1]  # upperdir, then lowerdir left to right


def test_the_chain_is_the_kernels_overlay_mount() -> None:
    assert chain(DB, CONTAINER) == MOUNTED
    # the database has branch pages (far more snapshots than one leaf page holds)
    flags = [struct.unpack_from("<H", DB, off + 8)[0] for off in range(0, len(DB), 4096)]
    assert flags.count(0x01) >= 2


def test_every_container_sits_on_the_same_image_layers() -> None:
    heads = set()
    for key in DB.split(b"moby/")[1:]:
        name = key.split(b"/", 1)[-1][:65]  # a container's own snapshot, not its -init one
        if (
            len(name) == 65
            and name[64:] not in b"-0123456789abcdef"
            and all(c in b"0123456789abcdef" for c in name[:64])
        ):
            name = name[:64]
            found = chain(DB, name.decode())
            assert found[-3:] == [5, 2, 1]
            heads.add(found[0])
    assert len(heads) >= 40


def test_the_recorder_resolves_the_spec_to_fs_directories(tmp_path: Path) -> None:
    root = tmp_path / "containerd" / "daemon" / snapshots.SNAPSHOTTER
    root.mkdir(parents=True)
    (root / "metadata.db").write_bytes(DB)
    dirs = resolve_dirs([f"containerd-snapshot:{tmp_path}:{CONTAINER}"])
    assert dirs == [str(root / "snapshots" / str(i) / "fs") for i in MOUNTED]
    with pytest.raises(OSError, match="no snapshot of container"):
        resolve_dirs([f"containerd-snapshot:{tmp_path}:{'0' * 64}"])


def test_an_unknown_container_or_a_missing_snapshotter_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no snapshot of container 000000000000"):
        chain(DB, "0" * 64)
    if not Path(snapshots.SYSTEM_ROOT, snapshots.SNAPSHOTTER, "metadata.db").exists():
        with pytest.raises(SnapshotError, match="no containerd overlayfs snapshotter"):
            snapshots.rootfs_dirs(str(tmp_path), CONTAINER)
    with pytest.raises(SnapshotError, match="unexpected container id"):
        snapshots.rootfs_dirs(str(tmp_path), "../x")


def test_a_torn_meta_page_falls_back_to_the_other() -> None:
    metas = [struct.unpack_from("<Q", DB, off + 16 + 48)[0] for off in (0, 4096)]
    newest = 0 if metas[0] > metas[1] else 4096
    torn = bytearray(DB)
    torn[newest + 16 + 56] ^= 0xFF  # its checksum no longer holds
    try:
        found = chain(bytes(torn), CONTAINER)
    except SnapshotError as exc:  # the older tree may predate the container
        assert "no snapshot" in str(exc)
    else:
        assert found == MOUNTED
    both = bytearray(torn)
    both[(4096 - newest) + 16 + 56] ^= 0xFF
    with pytest.raises(SnapshotError, match="no valid bbolt meta page"):
        chain(bytes(both), CONTAINER)


def test_damaged_databases_give_a_snapshot_error_and_nothing_else() -> None:
    rng = random.Random(14)
    for size in (0, 10, 4096, 8192, 20000):
        with pytest.raises(SnapshotError):
            chain(DB[:size], CONTAINER)
    for _ in range(300):
        damaged = bytearray(DB)
        for _ in range(rng.randint(1, 40)):
            damaged[rng.randrange(2 * 4096, len(DB))] = rng.randrange(256)
        with contextlib.suppress(SnapshotError):  # any other exception fails the test
            chain(bytes(damaged), CONTAINER)

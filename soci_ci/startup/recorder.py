"""Record the files of one container's rootfs that its processes open, exec or read.

How: one fanotify group marks the filesystem(s) holding the container's rootfs directories
(overlay2: its upper and lower `diff` directories; vfs: its own copy of the image; the
containerd image store's overlayfs snapshotter: its snapshots' `fs` directories), before the
container starts, so nothing it reads is missed. A filesystem mark sees every process on that
filesystem, so each event is kept only when the file it names is one of the container's own
files: the event's path (as the container sees it: its mount namespace is not ours) is looked
up in each rootfs directory and must be the very inode (device and inode number) the event
opened, reached without following a symbolic link. Events of this process are ignored. The
order of first events is the order of first access.

Runs in process (soci-ci on the engine's host, root) or as a helper container started through
the same Docker socket: `python3 -m soci_ci.startup.recorder DIR...` prints one line per
new file and ends, after draining what is queued, on SIGTERM or SIGINT. Standard library only,
so the helper can be any image with Python and this package.
"""
# os calls on the per-event hot path, without Path objects:
# ruff: noqa: PTH115, PTH116, PTH118, PTH120, PTH123

from __future__ import annotations

import os
import select
import signal
import stat
import sys
from collections.abc import Sequence
from typing import NamedTuple

from soci_ci.startup import fanotify as fan
from soci_ci.startup import snapshots

KIND_EXEC = "exec"
KIND_OPEN = "open"
KIND_READ = "read"
DELETED = " (deleted)"
MAX_PATH = 4096
MAX_FILES = 200_000  # soci_ci.limits.STARTUP_MAX_FILES (this module is standard library only)


class Access(NamedTuple):
    path: str  # absolute, in the container's rootfs
    kind: str  # exec | open | read: the first event seen for the file


def _kind(mask: int) -> str:
    if mask & fan.FAN_OPEN_EXEC:
        return KIND_EXEC
    if mask & fan.FAN_OPEN:
        return KIND_OPEN
    return KIND_READ


def in_rootfs(
    dirs: Sequence[str], path: str, key: tuple[int, int], real_dirs: set[str] | None = None
) -> bool:
    """Whether `path` (container view) names inode `key` in one of the rootfs directories,
    through real directories only (a symbolic link in a layer never leads outside it).
    `real_dirs` caches the directories already checked."""
    if not path.startswith("/") or len(path) > MAX_PATH or "\0" in path:
        return False
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return False
    checked = real_dirs if real_dirs is not None else set()
    rel = "/".join(parts)
    for root in dirs:
        try:
            st = os.lstat(f"{root}/{rel}")
        except (OSError, ValueError):
            continue
        if (st.st_dev, st.st_ino) != key:
            continue
        at = root
        for part in parts[:-1]:
            at = f"{at}/{part}"
            if at in checked:
                continue
            try:
                if not stat.S_ISDIR(os.lstat(at).st_mode):
                    break
            except OSError:
                break
            checked.add(at)
        else:
            return True
    return False


class Recorder:
    """Marks the filesystems of `dirs` at construction; `poll` and `drain` collect accesses."""

    def __init__(self, dirs: Sequence[str], *, ignore_pids: Sequence[int] = ()) -> None:
        self.dirs = tuple(dirs)
        self.devices = {os.stat(d).st_dev for d in self.dirs}
        self.ignore = {os.getpid(), *ignore_pids}
        self.group = fan.Group()
        try:
            marked: set[int] = set()
            for d in self.dirs:
                dev = os.stat(d).st_dev
                if dev not in marked:
                    self.group.mark_filesystem(d)
                    marked.add(dev)
        except BaseException:
            self.group.close()
            raise
        self.accesses: list[Access] = []
        self.overflow = False
        self.truncated = False
        self._known: set[tuple[int, int]] = set()
        # (device, inode, path) seen outside the rootfs. By path too: one file is reached by
        # several paths (the engine reads the container's /etc/passwd through the storage
        # driver's directory before runc reads it as /etc/passwd inside the container).
        self._foreign: set[tuple[int, int, str]] = set()
        self._real_dirs: set[str] = set()

    def fileno(self) -> int:
        return int(self.group.fd)

    def _handle(self, event: fan.Event) -> Access | None:
        if event.mask & fan.FAN_Q_OVERFLOW:
            self.overflow = True
            return None
        if event.fd < 0:
            return None
        try:
            if event.pid in self.ignore:
                return None
            st = os.fstat(event.fd)
            key = (st.st_dev, st.st_ino)
            if st.st_dev not in self.devices or not stat.S_ISREG(st.st_mode) or key in self._known:
                return None
            path = os.readlink(f"/proc/self/fd/{event.fd}")
            seen = (*key, path)
            if seen in self._foreign:
                return None
            if path.endswith(DELETED) or not in_rootfs(self.dirs, path, key, self._real_dirs):
                self._foreign.add(seen)
                return None
            self._known.add(key)
            if len(self.accesses) >= MAX_FILES:
                self.truncated = True
                return None
            access = Access(path=path, kind=_kind(event.mask))
            self.accesses.append(access)
            return access
        except OSError:
            return None
        finally:
            os.close(event.fd)

    def poll(self, timeout: float) -> list[Access]:
        """New accesses queued within `timeout` seconds."""
        ready, _, _ = select.select([self.group.fd], [], [], timeout)
        return self._read_all() if ready else []

    def drain(self) -> list[Access]:
        """Everything still queued (call after the watched processes stopped)."""
        return self._read_all()

    def _read_all(self) -> list[Access]:
        new: list[Access] = []
        while True:
            events = self.group.read()
            if not events:
                return new
            for event in events:
                access = self._handle(event)
                if access is not None:
                    new.append(access)

    def close(self) -> None:
        self.group.close()


def resolve_dirs(specs: Sequence[str]) -> list[str]:
    """`vfs-mount:FILE` becomes the vfs directory FILE names; `containerd-snapshot:ROOT:ID` the
    container's snapshot directories (`snapshots`); other entries are kept."""
    out = []
    for spec in specs:
        if spec.startswith("containerd-snapshot:"):
            root, _, container_id = spec.removeprefix("containerd-snapshot:").rpartition(":")
            out += snapshots.rootfs_dirs(root, container_id)
            continue
        if not spec.startswith("vfs-mount:"):
            out.append(spec)
            continue
        mount_file = spec.removeprefix("vfs-mount:")
        with open(mount_file, encoding="ascii") as fh:
            mount_id = fh.read(100).strip()
        if len(mount_id) != 64 or any(c not in "0123456789abcdef" for c in mount_id):
            raise OSError(f"unexpected vfs mount id in {mount_file}")
        root = mount_file
        for _ in range(6):  # ROOT/image/vfs/layerdb/mounts/ID/mount-id -> ROOT
            root = os.path.dirname(root)
        out.append(os.path.join(root, "vfs", "dir", mount_id))
    return out


# The helper's output, one line each (no json: the helper starts faster without importing it):
# "marked", "file <kind> <hex of the path's bytes>", "end <overflow 0|1>", "error <text>".
def encode_access(access: Access) -> str:
    return f"file {access.kind} {os.fsencode(access.path).hex()}"


def decode_line(line: str) -> tuple[str, str, str]:
    """(word, kind or text, path): ("file", kind, path), ("marked"|"end"|"error", rest, "")."""
    word, _, rest = line.strip().partition(" ")
    if word == "file":
        kind, _, hexed = rest.partition(" ")
        try:
            return word, kind, os.fsdecode(bytes.fromhex(hexed))
        except ValueError:
            return "", "", ""
    return word, rest, ""


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """The helper container's entry point: DIR... in, JSON lines out."""
    dirs = list(sys.argv[1:] if argv is None else argv)
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        recorder = Recorder(resolve_dirs(dirs))
    except OSError as exc:
        _emit("error " + " ".join(str(exc).split()))
        return 1
    _emit("marked")
    try:
        while not stopping:
            for access in recorder.poll(0.2):
                _emit(encode_access(access))
        for access in recorder.drain():
            _emit(encode_access(access))
        _emit(f"end {int(recorder.overflow or recorder.truncated)}")
    finally:
        recorder.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

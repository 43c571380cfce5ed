"""Opening files of an untrusted directory or archive: regular files inside it, bounded reads.

An OCI layout or archive comes from an image, a build or a pull request: a "blob" may be a
FIFO (a read that never ends), a symlink to `/dev/zero` or to a file outside the layout
(`~/.docker/config.json`), or far larger than its descriptor says. Every file is therefore
opened through `open_inside`: its resolved path must be inside the root, the open does not
follow a final symlink and does not block (`O_NOFOLLOW | O_NONBLOCK`), and what was opened
must be a regular file (`fstat`). Reads of documents go through `read_limited`, which never
reads more than the limit plus one byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from soci_ci.errors import InputError

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def inside(root: Path, path: Path) -> Path:
    """`path` with every symlink resolved; InputError unless it stays inside `root`."""
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise InputError(f"{path} points outside {root} (a symbolic link); refused")
    return real


def open_inside(root: Path, path: Path, what: str) -> BinaryIO:
    """Open `path` for reading: a regular file inside `root`, never a FIFO, device or link."""
    return open_regular(inside(root, path), f"{what} in {root}")


def open_regular(path: Path, what: str) -> BinaryIO:
    """Open `path` (symlinks resolved) for reading if it is a regular file, as `fstat` says."""
    try:
        fd = os.open(path.resolve(), _FLAGS)
    except FileNotFoundError:
        raise InputError(f"{what} is missing ({path})") from None
    except OSError as exc:
        raise InputError(f"cannot open {what}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"{what} is not a regular file ({_kind(mode)}); refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(fh: BinaryIO, limit: int, what: str) -> bytes:
    """The whole file, refusing one larger than `limit` bytes (reads at most limit + 1)."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{what} is larger than {limit} bytes; refused")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"

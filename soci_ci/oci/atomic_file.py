"""Write a file atomically: a temp file beside it, renamed over it; nothing left on failure.

The new file keeps the mode of the file it replaces (a new file gets 0666 minus the umask,
as `open()` would give it), not the 0600 of a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from soci_ci.errors import InputError


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode if mode is not None else target_mode(path))
        Path(tmp).replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def target_mode(path: Path) -> int:
    """The permission bits a file written at `path` should get."""
    try:
        return os.lstat(path).st_mode & 0o7777 if not path.is_symlink() else 0o666 & ~umask()
    except OSError:
        return 0o666 & ~umask()


def umask() -> int:
    """The process umask, read without changing it (from /proc; 022 when unavailable)."""
    try:
        with Path("/proc/self/status").open("rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022

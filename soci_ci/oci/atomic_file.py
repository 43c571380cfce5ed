"""Write a file atomically: a temp file beside it, renamed over it; nothing left on failure."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from soci_ci.errors import InputError


def write_atomic(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise

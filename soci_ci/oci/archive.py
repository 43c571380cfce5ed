"""`oci-archive:FILE[:TAG]`: a tar of an OCI layout, unpacked to a temp dir and packed back.

Unpacking refuses members that would land outside the directory (absolute paths, `..`,
links) and anything but regular files and directories. The archive is rewritten only when
something was written, atomically (new tar beside it, then rename).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from soci_ci.errors import InputError
from soci_ci.oci.layout import OciLayout


@contextlib.contextmanager
def open_archive(path: Path, tag: str | None) -> Iterator[OciLayout]:
    """Yield a layout view of the archive; write the archive back if the layout changed."""
    workdir = Path(tempfile.mkdtemp(prefix="soci-ci-archive-"))
    try:
        _unpack(path, workdir)
        layout = OciLayout(workdir, tag)
        before = _snapshot(workdir)
        yield layout
        if _snapshot(workdir) != before:
            _pack(workdir, path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _unpack(path: Path, dest: Path) -> None:
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed below
    except (OSError, tarfile.TarError) as exc:
        raise InputError(f"cannot open OCI archive {path}: {exc}") from None
    with tar:
        try:
            for member in tar:
                name = member.name.lstrip("./") if member.name.startswith("./") else member.name
                if not name:
                    continue
                target = (dest / name).resolve()
                if Path(member.name).is_absolute() or not str(target).startswith(
                    str(dest.resolve())
                ):
                    raise InputError(f"OCI archive {path} has an unsafe member {member.name!r}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    if src is None:
                        continue
                    with src, target.open("wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                else:
                    raise InputError(
                        f"OCI archive {path} has a link or special member {member.name!r}"
                    )
        except (OSError, tarfile.TarError) as exc:
            raise InputError(f"cannot read OCI archive {path}: {exc}") from None


def _pack(src: Path, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for p in sorted(src.rglob("*")):
                tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise

"""`oci-archive:FILE[:TAG]`: a tar of an OCI layout, unpacked to a temp dir and packed back.

The archive is untrusted. It is read with the same Go-rules tar reader as layers
(`soci.tar_toc.TarWalker`: PAX headers and long names bounded, no sparse entries, so a
small archive cannot declare gigabytes of holes), through the decompressor its first bytes
name (tar, gzip, bzip2, xz). Unpacking accepts only regular files and directories whose
names stay inside the directory, and bounds the number of members, name lengths and the
bytes written (`limits`, "archives and OCI layouts on disk", and the free space of the
temporary directory). The archive is rewritten only when something was written,
atomically (new tar beside it, then rename), with its own compression and file mode.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, BinaryIO, cast

from soci_ci import limits
from soci_ci.errors import InputError, LayerError
from soci_ci.oci.atomic_file import target_mode
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.local_file import open_regular
from soci_ci.soci.tar_toc import TarWalker

_HINT = (
    "an oci-archive holds an OCI layout's regular files and directories "
    "(skopeo copy ... oci-archive:FILE); see SECURITY.md for the limits"
)
_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


class ArchiveCompression(StrEnum):
    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Original:
    compression: ArchiveCompression
    mode: int


def _compression(head: bytes, path: Path) -> ArchiveCompression:
    if head[:2] == b"\x1f\x8b":
        return ArchiveCompression.GZIP
    if head[:3] == b"BZh":
        return ArchiveCompression.BZIP2
    if head[:6] == b"\xfd7zXZ\x00":
        return ArchiveCompression.XZ
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise InputError(f"OCI archive {path} is zstd-compressed; not supported", hint=_HINT)
    return ArchiveCompression.NONE


@contextlib.contextmanager
def open_archive(path: Path, tag: str | None) -> Iterator[OciLayout]:
    """Yield a layout view of the archive; write the archive back if the layout changed."""
    workdir = Path(tempfile.mkdtemp(prefix="soci-ci-archive-"))
    try:
        original = _unpack(path, workdir)
        layout = OciLayout(workdir, tag)
        before = _snapshot(workdir)
        yield layout
        if _snapshot(workdir) != before:
            _pack(workdir, path, original)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


class _Stream:
    """A (decompressed) file as the walker's `TarStream`."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh

    def read(self, n: int) -> bytes:
        out = self._fh.read(n)
        while 0 < len(out) < n:
            more = self._fh.read(n - len(out))
            if not more:
                break
            out += more
        return out

    def skip(self, n: int) -> int:
        done = 0
        while done < n:
            piece = self._fh.read(min(n - done, 1 << 20))
            if not piece:
                break
            done += len(piece)
        return done


def _decompressed(raw: BinaryIO, compression: ArchiveCompression) -> IO[bytes]:
    if compression is ArchiveCompression.GZIP:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if compression is ArchiveCompression.BZIP2:
        return bz2.BZ2File(raw, "rb")
    if compression is ArchiveCompression.XZ:
        return lzma.LZMAFile(raw, "rb")
    return raw


def _unpack(path: Path, dest: Path) -> _Original:
    raw = open_regular(path, f"OCI archive {path}")
    with raw:
        compression = _compression(raw.read(6), path)
        raw.seek(0)
        st = os.fstat(raw.fileno())
        original = _Original(compression=compression, mode=st.st_mode & 0o777)
        budget = limits.MAX_ARCHIVE_EXTRACT
        if compression is not ArchiveCompression.NONE:
            budget = min(budget, st.st_size * limits.MAX_ARCHIVE_RATIO + 64 * limits.MiB)
        try:
            with _decompressed(raw, compression) as stream:
                walker = TarWalker(_Stream(stream), special_total=limits.MAX_ARCHIVE_SPECIAL)
                _extract(walker, path, dest, budget)
        except LayerError as exc:
            raise InputError(
                f"cannot unpack OCI archive {path}: {exc.message}", hint=_HINT
            ) from None
        except _DECOMPRESS_ERRORS as exc:
            raise InputError(
                f"cannot read OCI archive {path}: {str(exc)[:300]}", hint=_HINT
            ) from None
    return original


def _extract(walker: TarWalker, path: Path, dest: Path, budget: int) -> None:
    real_dest = dest.resolve()
    members = 0
    written = 0
    while (entry := walker.next()) is not None:
        members += 1
        if members > limits.MAX_ARCHIVE_MEMBERS:
            raise InputError(
                f"OCI archive {path} has more than {limits.MAX_ARCHIVE_MEMBERS} members",
                hint=_HINT,
            )
        raw_name = entry.name
        if len(raw_name) > limits.MAX_ARCHIVE_NAME:
            raise InputError(
                f"OCI archive {path} has a member name of {len(raw_name)} bytes "
                f"(limit {limits.MAX_ARCHIVE_NAME})",
                hint=_HINT,
            )
        name = os.fsdecode(raw_name)
        shown = repr(name[:200])
        relative = name[2:] if name.startswith("./") else name
        relative = relative.rstrip("/")
        if not relative or relative == ".":
            continue
        if relative.count("/") >= limits.MAX_ARCHIVE_DEPTH:
            raise InputError(
                f"OCI archive {path} has a member nested deeper than "
                f"{limits.MAX_ARCHIVE_DEPTH} directories: {shown}",
                hint=_HINT,
            )
        target = (dest / relative).resolve()
        if Path(name).is_absolute() or not target.is_relative_to(real_dest) or target == real_dest:
            raise InputError(f"OCI archive {path} has an unsafe member {shown}", hint=_HINT)
        if entry.type == b"dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        if entry.type != b"reg":
            raise InputError(f"OCI archive {path} has a link or special member {shown}", hint=_HINT)
        size = entry.uncompressed_size
        written += size
        if written > budget:
            raise InputError(
                f"OCI archive {path} unpacks to more than {budget} bytes "
                f"({limits.MAX_ARCHIVE_EXTRACT >> 30} GiB, or {limits.MAX_ARCHIVE_RATIO} times "
                "the size of a compressed archive)",
                hint=_HINT,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free - limits.ARCHIVE_FREE_RESERVE
        if size > free:
            raise InputError(
                f"OCI archive {path}: member {shown} needs {size} bytes, but the temporary "
                f"directory has {free} free",
                hint="set TMPDIR to a file system with more space",
            )
        with target.open("wb") as out:
            for piece in walker.data():
                out.write(piece)


def _pack(src: Path, path: Path, original: _Original) -> None:
    """Write the layout back as `path`, atomically, with the archive's compression and mode."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write OCI archive {path}: {exc.strerror}") from None
    os.close(fd)
    try:
        with _tar_writer(Path(tmp), original.compression) as tar:
            for p in sorted(src.rglob("*")):
                tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
        Path(tmp).chmod(original.mode or target_mode(path))
        Path(tmp).replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise InputError(f"cannot write OCI archive {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def _tar_writer(path: Path, compression: ArchiveCompression) -> tarfile.TarFile:
    fmt = tarfile.PAX_FORMAT
    if compression is ArchiveCompression.GZIP:
        return tarfile.open(path, "w:gz", format=fmt, compresslevel=6)
    if compression is ArchiveCompression.BZIP2:
        return tarfile.open(path, "w:bz2", format=fmt)
    if compression is ArchiveCompression.XZ:
        return tarfile.open(path, "w:xz", format=fmt)
    return tarfile.open(path, "w", format=fmt)

"""Layout files, atomic writes and archive limits, in process (the CLI cases are in
tests/integration/test_hostile_layouts.py)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from soci_ci import limits
from soci_ci.errors import InputError, LayerError
from soci_ci.oci.archive import open_archive
from soci_ci.oci.atomic_file import umask, write_atomic
from soci_ci.oci.layout import OciLayout
from soci_ci.soci.tar_toc import read_toc
from tests.support import hostile as h
from tests.support.layers import Entry, build_tar, gz

LAYER = gz(build_tar([Entry(name=b"f", data=b"x" * 3000)]).data)


def test_symlink_to_a_blob_inside_the_layout_is_read(tmp_path: Path) -> None:
    root = tmp_path / "img"
    d = h.make_layout(root, LAYER)
    path = h.blob_path(root, d["layer"])
    real = root / "store" / "layer"
    real.parent.mkdir()
    path.rename(real)
    path.symlink_to(real)
    with OciLayout(root, "app").open_blob(d["layer"], len(LAYER)) as fh:
        assert fh.read() == LAYER


def test_blobs_are_not_written_through_a_symlinked_directory(tmp_path: Path) -> None:
    root = tmp_path / "img"
    h.make_layout(root, LAYER)
    outside = tmp_path / "outside"
    (root / "blobs" / "sha256").rename(outside)
    (root / "blobs" / "sha256").symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    data = b"new blob"
    with pytest.raises(InputError, match="points outside"):
        OciLayout(root, "app").push_blob(h._digest(data), data)
    assert sorted(p.name for p in outside.iterdir()) == before


def test_no_directory_is_created_through_a_symlinked_blobs_dir(tmp_path: Path) -> None:
    root = tmp_path / "img"
    h.make_layout(root, LAYER)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "blobs" / "sha256").rename(root / "kept")
    (root / "blobs").rename(root / "kept-blobs")
    (root / "blobs").symlink_to(outside)
    data = b"new blob"
    with pytest.raises(InputError, match="points outside"):
        OciLayout(root, "app").push_blob(h._digest(data), data)
    assert list(outside.iterdir()) == []


def test_blob_ranges_must_lie_inside_the_blob(tmp_path: Path) -> None:
    root = tmp_path / "img"
    d = h.make_layout(root, LAYER)
    layout = OciLayout(root, "app")
    assert layout.read_blob_range(d["layer"], 0, 10) == LAYER[:10]
    with pytest.raises(InputError, match="outside blob"):
        layout.read_blob_range(d["layer"], 0, len(LAYER) + 1)


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "index.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_atomic(path, b"[]")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    new = tmp_path / "new"
    write_atomic(new, b"x")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask()


def test_umask_is_read_without_changing_it() -> None:
    current = os.umask(0o027)
    try:
        assert umask() == 0o027
    finally:
        os.umask(current)


def test_archive_member_count_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ARCHIVE_MEMBERS", 3)
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(4):
            info = tarfile.TarInfo(f"f{i}")
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InputError, match="more than 3 members"), open_archive(archive, None):
        pass


def test_layer_entry_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_TOC_ENTRIES", 2)
    data = build_tar([Entry(name=b"a"), Entry(name=b"b"), Entry(name=b"c")]).data
    stream = io.BytesIO(data)

    class Stream:
        def read(self, n: int) -> bytes:
            return stream.read(n)

        def skip(self, n: int) -> int:
            return len(stream.read(n))

    with pytest.raises(LayerError, match="more than 2 entries"):
        read_toc(Stream())

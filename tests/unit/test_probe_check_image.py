from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

import pytest

from soci_ci.errors import ConfigError
from soci_ci.oci.digest import sha256_digest
from soci_ci.probe import check_image


def elf(machine: int, *, interp: bool = False) -> bytes:
    """A minimal 64-bit little-endian ELF header with one program header."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", header, 18, machine)
    struct.pack_into("<Q", header, 32, 64)  # e_phoff
    struct.pack_into("<HH", header, 54, 56, 1)  # e_phentsize, e_phnum
    program = bytearray(56)
    struct.pack_into("<I", program, 0, 3 if interp else 1)  # PT_INTERP or PT_LOAD
    return bytes(header + program)


def test_elf_architecture() -> None:
    assert check_image.elf_architecture(elf(62)) == "X86_64"
    assert check_image.elf_architecture(elf(183)) == "ARM64"
    with pytest.raises(ConfigError, match="dynamically linked"):
        check_image.elf_architecture(elf(62, interp=True))
    with pytest.raises(ConfigError, match="ELF machine 40"):
        check_image.elf_architecture(elf(40))
    with pytest.raises(ConfigError, match="not a 64-bit"):
        check_image.elf_architecture(b"#!/bin/sh\n")


def test_find_busybox_wants_the_task_architecture(tmp_path: Path) -> None:
    (tmp_path / "amd").write_bytes(elf(62))
    (tmp_path / "dyn").write_bytes(elf(183, interp=True))
    paths = (str(tmp_path / "missing"), str(tmp_path / "dyn"), str(tmp_path / "amd"))
    assert check_image.find_busybox("X86_64", paths) == elf(62)
    with pytest.raises(ConfigError, match="no static busybox for ARM64") as caught:
        check_image.find_busybox("ARM64", paths)
    assert "amd: X86_64" in str(caught.value) and "probe.check_image" in caught.value.hint


def test_image_is_one_deterministic_layer() -> None:
    image = check_image.build(elf(183))
    assert image == check_image.build(elf(183))
    assert image.architecture == "ARM64"
    manifest = json.loads(image.manifest.data)
    assert manifest["layers"][0]["digest"] == image.layer.digest == sha256_digest(image.layer.data)
    config = json.loads(image.config.data)
    assert config["architecture"] == "arm64"
    tar = gzip.decompress(image.layer.data)
    assert config["rootfs"]["diff_ids"] == [sha256_digest(tar)]
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert sorted(members) == ["bin", "bin/busybox", "bin/sh"]
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].mtime == 0
    assert image.reference("r/app") == f"r/app@{image.manifest.digest}"


def test_container_is_an_essential_watchdog_without_depends_on() -> None:
    logs = {"logDriver": "awslogs", "options": {}}
    container = check_image.container(
        "r/app@sha256:" + "c" * 64, deadline_seconds=720, log_configuration=logs
    )
    assert container["essential"] is True and "dependsOn" not in container
    assert container["environment"] == [{"name": "SOCI_CI_DEADLINE_SECONDS", "value": "720"}]
    assert " -T " not in check_image.SCRIPT  # busybox 1.35 wget crashes with -T

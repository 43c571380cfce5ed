"""Platforms as `soci convert` writes them: tests/data/vectors/platform (see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.cli import main
from tests.support.vectors import vectors_dir, write_blob, write_layout

TOOL = "AWS SOCI CLI v0.2"
OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"
PLATFORMS = vectors_dir() / "platform"
SINGLE = sorted(p.name for p in PLATFORMS.iterdir() if (p / "manifest.json").is_file())


def _layers() -> list[bytes]:
    layers = vectors_dir() / "layers"
    return [(layers / n).read_bytes() for n in ("image_layer1.tar.gz", "image_layer2.tar.gz")]


def _tagged(root: Path, tag: str) -> bytes:
    for m in json.loads((root / "index.json").read_text())["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
            return (root / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()
    raise AssertionError(f"no tag {tag}")


def _index(root: Path, *args: str) -> None:
    argv = ["index", f"oci:{root}:latest", "--min-layer-size", "0", "--build-tool-identifier"]
    assert main([*argv, TOOL, *args]) == 0


def test_every_rule_has_a_vector() -> None:
    assert len(SINGLE) >= 15
    assert {"arm64-v8", "arm-v7", "arm-no-variant", "aarch64", "x86_64", "amd64-v1"} <= set(SINGLE)


@pytest.mark.parametrize("case", SINGLE)
def test_single_platform_image(tmp_path: Path, case: str) -> None:
    src = PLATFORMS / case
    root = tmp_path / "img"
    manifest = (src / "manifest.json").read_bytes()
    write_layout(root, {"latest": (manifest, OCI_M)}, [(src / "config.json").read_bytes()])
    for layer in _layers():
        write_blob(root, layer)
    _index(root)
    assert _tagged(root, "latest-soci") == (src / "oci_index.json").read_bytes()
    converted = (src / "converted_manifest.json").read_bytes()
    assert (root / "blobs" / "sha256" / write_blob(tmp_path / "x", converted)[7:]).is_file()


def _multi(root: Path) -> None:
    src = PLATFORMS / "multi"
    write_layout(root, {"latest": ((src / "index.json").read_bytes(), OCI_I)}, _layers())
    for name in ("amd64", "arm64", "arm"):
        write_blob(root, (src / f"{name}.config.json").read_bytes())
        write_blob(root, (src / f"{name}.manifest.json").read_bytes())


def test_multi_platform_entries_keep_their_platforms(tmp_path: Path) -> None:
    _multi(tmp_path / "img")
    _index(tmp_path / "img")
    expected = (PLATFORMS / "multi" / "oci_index.all.json").read_bytes()
    assert _tagged(tmp_path / "img", "latest-soci") == expected


@pytest.mark.parametrize("flag", ["linux/arm64", "linux/arm64/v8", "linux/arm"])
def test_platform_flag_is_written_as_parsed_and_reported(tmp_path: Path, flag: str) -> None:
    facts = json.loads((PLATFORMS / "multi" / "expected.json").read_text())[flag]
    root = tmp_path / "img"
    _multi(root)
    out = tmp_path / "report.json"
    _index(root, "--platform", flag, "--output-json", str(out))
    assert _tagged(root, "latest-soci") == (PLATFORMS / "multi" / facts["file"]).read_bytes()
    notes = json.loads(out.read_text())["notes"]
    assert len(notes) == 1
    assert notes[0].startswith(f"--platform {flag}: 2 image manifest(s) not selected")

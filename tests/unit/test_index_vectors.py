"""SOCI index manifests and the v2 conversion, byte for byte with shared/vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.oci.manifest import Descriptor, Manifest, Platform
from soci_ci.soci.convert import PlatformSoci, convert
from soci_ci.soci.index_manifest import IndexFormat, ZtocRef, soci_index_manifest
from tests.support.vectors import example_image_layout

TOOL = "AWS SOCI CLI v0.2"


def blob(root: Path, data: bytes) -> Path:
    import hashlib

    return root / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("min_size", ["0", "1024"])
def test_manifest_bytes(vectors: Path, min_size: str) -> None:
    image = vectors / "index" / "example-image"
    case = image / f"min-layer-size-{min_size}"
    expected = json.loads((case / "expected.json").read_text())
    manifest = Manifest.from_json(json.loads((image / "image" / "manifest.json").read_bytes()))
    refs = [
        ZtocRef(layer=layer, digest=e["ztoc_digest"], size=e["ztoc_size"], span_size=4194304)
        for layer, e in zip(manifest.layers or (), expected["layers"], strict=True)
        if "ztoc_digest" in e
    ]
    subject = Descriptor(
        media_type=expected["image_manifest_media_type"],
        digest=expected["image_manifest_digest"],
        size=expected["image_manifest_size"],
    )
    v1 = soci_index_manifest(
        index_format=IndexFormat.V1, ztocs=refs, build_tool_identifier=TOOL, subject=subject
    ).to_json()
    v2 = soci_index_manifest(
        index_format=IndexFormat.V2, ztocs=refs, build_tool_identifier=TOOL
    ).to_json()
    assert v1 == (case / "soci_index_v1.json").read_bytes()
    assert v2 == (case / "soci_index_v2.json").read_bytes()
    conv = convert(
        [
            PlatformSoci(
                image=subject,
                manifest=manifest,
                platform=Platform(architecture="amd64", os="linux"),
                soci_index=v2,
            )
        ],
        None,
    )
    assert conv.manifests[0] == (case / "converted_manifest.json").read_bytes()
    assert conv.index == (case / "oci_index.json").read_bytes()


@pytest.mark.parametrize("min_size", ["0", "1024"])
def test_index_command_writes_the_vector_bytes(
    vectors: Path, tmp_path: Path, min_size: str
) -> None:
    case = vectors / "index" / "example-image" / f"min-layer-size-{min_size}"
    root = example_image_layout(tmp_path / "img")
    report = tmp_path / "report.json"
    argv = ["index", f"oci:{root}:latest", "--min-layer-size", min_size]
    argv += ["--build-tool-identifier", TOOL, "--output-json", str(report)]
    assert main(argv) == 0
    for name in ("soci_index_v2.json", "converted_manifest.json", "oci_index.json"):
        data = (case / name).read_bytes()
        assert blob(root, data).read_bytes() == data
    tags = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in json.loads((root / "index.json").read_text())["manifests"]
    }
    expected = json.loads((case / "expected.json").read_text())
    assert tags["latest-soci"] == expected["oci_index"]["digest"]
    assert tags["latest"] == expected["image_manifest_digest"]
    out = json.loads(report.read_text())
    assert out["outcome"] == "indexed"
    assert out["soci_image"]["digest"] == expected["oci_index"]["digest"]
    assert [z["digest"] for z in out["ztocs"]] == [
        layer["ztoc_digest"] for layer in expected["layers"] if "ztoc_digest" in layer
    ]
    assert [s["reason"] for s in out["skipped_layers"]] == [
        layer["skipped"] for layer in expected["layers"] if "skipped" in layer
    ]
    # Rerun: nothing new to write, and it says so.
    assert main(argv) == 0
    assert json.loads(report.read_text())["outcome"] == "up-to-date"


def test_v1_index_and_referrers_tag(vectors: Path, tmp_path: Path) -> None:
    case = vectors / "index" / "example-image" / "min-layer-size-1024"
    root = example_image_layout(tmp_path / "img")
    assert (
        main(
            [
                "index",
                f"oci:{root}:latest",
                "--format",
                "v1",
                "--min-layer-size",
                "1024",
                "--build-tool-identifier",
                TOOL,
            ]
        )
        == 0
    )
    data = (case / "soci_index_v1.json").read_bytes()
    assert blob(root, data).read_bytes() == data
    expected = json.loads((case / "expected.json").read_text())
    fallback = "sha256-" + expected["image_manifest_digest"].split(":")[1]
    entries = json.loads((root / "index.json").read_text())["manifests"]
    ref = next(
        m for m in entries if m["annotations"]["org.opencontainers.image.ref.name"] == fallback
    )
    referrers = json.loads(
        blob(root, b"").parent.joinpath(ref["digest"].split(":")[1]).read_bytes()
    )
    (desc,) = referrers["manifests"]
    assert desc["digest"] == expected["soci_index_v1"]["digest"]
    assert desc["artifactType"] == "application/vnd.amazon.soci.index.v1+json"


def test_default_min_layer_size_is_not_applicable(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = example_image_layout(tmp_path / "img")
    before = sorted(p.name for p in (root / "blobs" / "sha256").iterdir())
    index_json = (root / "index.json").read_bytes()
    report = tmp_path / "r.json"
    assert main(["index", f"oci:{root}:latest", "--output-json", str(report)]) == 0
    assert "SOCI not applicable" in capsys.readouterr().out
    assert json.loads(report.read_text())["outcome"] == "not-applicable"
    assert sorted(p.name for p in (root / "blobs" / "sha256").iterdir()) == before
    assert (root / "index.json").read_bytes() == index_json

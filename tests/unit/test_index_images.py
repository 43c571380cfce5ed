"""`soci-ci index` on multi-platform images, attestations, Docker media types, archives."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from soci_ci.app.example import example_layers
from soci_ci.cli import main
from tests.support.images import (
    DOCKER_M,
    OCI_M,
    image_manifest,
    multi_platform,
)
from tests.support.vectors import write_layout


def load(root: Path, digest: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    )
    return data


def test_all_platforms_by_default_and_attestations_kept_valid(tmp_path: Path) -> None:
    root = multi_platform(tmp_path / "img")
    out = tmp_path / "r.json"
    assert main(["index", f"oci:{root}:v1", "--output-json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert sorted(i["platform"] for i in report["soci_indexes"]) == ["linux/amd64", "linux/arm64"]
    index = load(root, report["soci_image"]["digest"])
    digests = {m["digest"] for m in index["manifests"]}
    for m in index["manifests"]:
        assert (root / "blobs" / "sha256" / m["digest"].split(":")[1]).is_file()
        ref = m.get("annotations", {}).get("vnd.docker.reference.digest")
        if ref:
            assert ref in digests, "attestation points at a manifest that is not in the index"
            assert ref == report["rewritten_manifests"][next(iter(report["rewritten_manifests"]))]
    soci = [
        m
        for m in index["manifests"]
        if m.get("artifactType") == "application/vnd.amazon.soci.index.v2+json"
    ]
    assert len(soci) == 2
    for m in soci:
        image = load(root, m["annotations"]["com.amazon.soci.image-manifest-digest"])
        assert image["annotations"]["com.amazon.soci.index-digest"] == m["digest"]
    assert any("attestation" in n for n in report["notes"])
    # The same zTOC serves the layer shared by both platforms: built once.
    assert len({z["digest"] for z in report["ztocs"]}) == 1


def test_platform_filter(tmp_path: Path) -> None:
    root = multi_platform(tmp_path / "img", attestations=False)
    out = tmp_path / "r.json"
    assert (
        main(["index", f"oci:{root}:v1", "--platform", "linux/arm64", "--output-json", str(out)])
        == 0
    )
    report = json.loads(out.read_text())
    assert [i["platform"] for i in report["soci_indexes"]] == ["linux/arm64"]
    index = load(root, report["soci_image"]["digest"])
    amd = next(
        m for m in index["manifests"] if m.get("platform", {}).get("architecture") == "amd64"
    )
    assert "annotations" not in amd  # untouched: no SOCI index for this platform
    assert main(["index", f"oci:{root}:v1", "--platform", "linux/s390x"]) == 3


def test_docker_manifest_is_converted_to_oci(tmp_path: Path) -> None:
    root = tmp_path / "img"
    big, small = example_layers()
    manifest = image_manifest(root, "amd64", [big, small], media_type=DOCKER_M)
    write_layout(root, {"d": (manifest, DOCKER_M)}, [])
    out = tmp_path / "r.json"
    assert main(["index", f"oci:{root}:d", "--output-json", str(out)]) == 0
    report = json.loads(out.read_text())
    new = load(root, next(iter(report["rewritten_manifests"].values())))
    assert new["mediaType"] == OCI_M
    assert new["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert new["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert main(["verify", f"oci:{root}:d-soci"]) == 0


def test_oci_archive_round_trip(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    assert main(["example", f"oci:{layout}:app"]) == 0
    archive = tmp_path / "img.tar"
    with tarfile.open(archive, "w") as tar:
        for p in sorted(layout.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    assert main(["index", f"oci-archive:{archive}:app"]) == 0
    assert main(["verify", f"oci-archive:{archive}:app-soci", "--sample", "5"]) == 0


def test_hostile_archive_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    with tarfile.open(archive, "w") as tar:
        tar.add(evil, arcname="../escape.txt")
    assert main(["index", f"oci-archive:{archive}"]) == 3
    assert not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.parametrize(
    "broken", ["not json", '{"schemaVersion": 1}', '{"schemaVersion":2,"layers":[]}']
)
def test_broken_manifest_is_a_clean_input_error(
    tmp_path: Path, broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "img"
    write_layout(root, {"x": (broken.encode(), OCI_M)}, [])
    assert main(["index", f"oci:{root}:x"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_missing_layout_and_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", f"oci:{tmp_path}/nothing"]) == 3
    root = multi_platform(tmp_path / "img", attestations=False)
    assert main(["index", f"oci:{root}:nope"]) == 3
    assert "tags: v1" in capsys.readouterr().err
    shutil.rmtree(root)

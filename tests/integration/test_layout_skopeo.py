"""skopeo, an independent OCI client, copies what `soci-ci index` writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from soci_ci.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("skopeo is not installed (.ci/run installs it)")
        pytest.skip("skopeo is not installed")
    return path


def run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True).stdout


def test_skopeo_copies_the_soci_enabled_image(skopeo: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    assert main(["example", f"oci:{src}:app"]) == 0
    report = tmp_path / "r.json"
    assert main(["index", f"oci:{src}:app", "--output-json", str(report)]) == 0
    result = json.loads(report.read_text())
    dest = tmp_path / "dest"
    run(skopeo, "copy", "--all", f"oci:{src}:app-soci", f"oci:{dest}:copy")
    # skopeo re-serializes the image index itself (Debian's 1.9 drops `artifactType`), but
    # every manifest, zTOC and layer below it must arrive byte for byte.
    copied = json.loads(run(skopeo, "inspect", "--raw", f"oci:{dest}:copy"))
    ours = json.loads(
        (src / "blobs" / "sha256" / result["soci_image"]["digest"].split(":")[1]).read_bytes()
    )
    assert [m["digest"] for m in copied["manifests"]] == [m["digest"] for m in ours["manifests"]]
    for m in ours["manifests"]:
        name = m["digest"].split(":")[1]
        assert (dest / "blobs" / "sha256" / name).read_bytes() == (
            src / "blobs" / "sha256" / name
        ).read_bytes()
    for ztoc in result["ztocs"]:
        name = ztoc["digest"].split(":")[1]
        assert (dest / "blobs" / "sha256" / name).read_bytes() == (
            src / "blobs" / "sha256" / name
        ).read_bytes()
    # The snapshotter's discovery path (the manifest annotation) survives the copy.
    assert main(["verify", f"oci:{dest}:copy"]) == 0


def test_skopeo_copies_a_v1_indexed_image(skopeo: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    main(["example", f"oci:{src}:app"])
    report = tmp_path / "r.json"
    assert main(["index", f"oci:{src}:app", "--format", "v1", "--output-json", str(report)]) == 0
    digest = json.loads(report.read_text())["original_image"]["digest"]
    run(skopeo, "copy", "--all", f"oci:{src}:app", f"oci:{tmp_path / 'dest'}:app")
    run(
        skopeo,
        "copy",
        "--all",
        f"oci:{src}:sha256-{digest.split(':')[1]}",
        f"oci:{tmp_path / 'dest'}:ref",
    )
    assert run(skopeo, "inspect", "--raw", f"oci:{tmp_path / 'dest'}:app") == run(
        skopeo, "inspect", "--raw", f"oci:{src}:app"
    )


def test_skopeo_dir_copy(skopeo: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    main(["example", f"oci:{src}:app"])
    main(["index", f"oci:{src}:app"])
    run(skopeo, "copy", "--all", f"oci:{src}:app-soci", f"dir:{tmp_path / 'dir'}")
    assert (tmp_path / "dir" / "manifest.json").is_file()

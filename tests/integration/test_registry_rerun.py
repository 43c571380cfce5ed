"""Reruns of `soci-ci index REF` against Debian's docker-registry, counted through a proxy.

The pass-through proxy (tests/servers/fault_proxy.py) records every request, so the tests
count the layer downloads (`GET /v2/<repo>/blobs/<layer digest>`) and the writes (PUT, POST,
PATCH) of each run: a rerun on an image that already has an equivalent index downloads no
layer and writes nothing; anything different or missing gets the full run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from soci_ci.cli import main
from soci_ci.registry.client import RegistryClient
from tests.servers.fault_proxy import FaultProxy, Rule
from tests.servers.registry import Registry
from tests.support.images import multi_platform
from tests.support.registry_images import image_layers, push_layout
from tests.support.tools import skopeo

pytestmark = pytest.mark.integration
WRITES = ("PUT", "POST", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multi_platform(tmp_path_factory.mktemp("rerun") / "img")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCI_CI_RETRY_BASE_SECONDS", "0.02")


class Runs:
    """`soci-ci index` through the proxy, with the requests of each run."""

    def __init__(self, proxy: FaultProxy, layout: Path, repo: str, tmp_path: Path) -> None:
        self.proxy = proxy
        self.repo = repo
        self.layers = image_layers(layout)
        self.out = tmp_path / "report.json"

    def run(self, *args: str) -> tuple[int, dict[str, Any]]:
        self.proxy.log.clear()
        self.proxy.blob_gets.clear()
        self.out.unlink(missing_ok=True)
        code = main(
            ["index", f"{self.proxy.host}/{self.repo}:v1", "--output-json", str(self.out), *args]
        )
        return code, json.loads(self.out.read_text()) if self.out.exists() else {}

    def layer_gets(self) -> int:
        return sum(1 for p in self.proxy.blob_gets if p.rsplit("/", 1)[1] in self.layers)

    def writes(self) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.proxy.log if m in WRITES]


def make_runs(
    client: RegistryClient, proxy: FaultProxy, layout: Path, repo: str, tmp_path: Path
) -> Runs:
    push_layout(client, layout, repo, "v1")
    return Runs(proxy, layout, repo, tmp_path)


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    for key in ("message", "written", "already_present", "outcome"):
        report.pop(key)
    report["ztocs"] = [
        {k: v for k, v in z.items() if k not in ("spans", "files", "seconds")}
        for z in report["ztocs"]
    ]
    return report


def test_v2_rerun_downloads_no_layer_and_pushes_nothing(
    registry: Registry,
    proxy: FaultProxy,
    layout: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = make_runs(RegistryClient(registry.host), proxy, layout, "rerun/v2", tmp_path)
    code, first = runs.run()
    assert code == 0 and first["outcome"] == "indexed"
    assert runs.layer_gets() == 1 and runs.writes()
    capsys.readouterr()
    code, second = runs.run()
    assert code == 0 and second["outcome"] == "up-to-date"
    assert runs.layer_gets() == 0, runs.proxy.blob_gets
    assert runs.writes() == []
    out = capsys.readouterr().out
    assert "already SOCI-enabled" in out and "nothing was written" in out
    assert "nothing was downloaded" in out
    assert comparable(second) == comparable(first)
    assert second["soci_image"] == {"digest": first["soci_image"]["digest"], "tag": "v1-soci"}
    # The cost of the check: HEADs and manifest GETs; no blob at all is downloaded here
    # (the platforms come from the image index, so not even an image config).
    assert [p for m, p, _ in proxy.log if m == "GET" and "/blobs/" in p] == []
    # --force: the full run as before this check existed (one download of the big layer).
    code, forced = runs.run("--force")
    assert code == 0 and forced["outcome"] == "up-to-date"
    assert runs.layer_gets() == 1 and runs.writes() == []


@pytest.mark.parametrize(
    "args",
    [
        ("--span-size", "1048576"),
        ("--build-tool-identifier", "AWS SOCI CLI v0.2"),
        ("--platform", "linux/arm64"),
    ],
    ids=["span-size", "build-tool", "platform-subset"],
)
def test_different_options_do_a_full_run(
    registry: Registry, proxy: FaultProxy, layout: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    repo = f"rerun/opt-{args[0].strip('-')}"
    runs = make_runs(RegistryClient(registry.host), proxy, layout, repo, tmp_path)
    assert runs.run()[0] == 0
    code, other = runs.run(*args)
    assert code == 0 and other["outcome"] == "indexed"
    assert runs.layer_gets() == 1 and runs.writes()
    code, again = runs.run(*args)
    assert code == 0 and again["outcome"] == "up-to-date" and runs.layer_gets() == 0


def test_interrupted_push_is_completed_by_the_rerun(
    registry: Registry, proxy: FaultProxy, layout: Path, tmp_path: Path
) -> None:
    client = RegistryClient(registry.host)
    runs = make_runs(client, proxy, layout, "rerun/broken", tmp_path)
    # The image index (the last manifest before the tag) keeps failing: no tag is written.
    proxy.add(Rule("PUT", "/manifests/sha256:", "status", times=100, status=500))
    assert runs.run()[0] == 4
    proxy.rules.clear()
    assert not client.has_manifest("rerun/broken", "v1-soci")
    code, report = runs.run()
    assert code == 0 and report["outcome"] == "indexed" and runs.layer_gets() == 1
    assert client.get_manifest("rerun/broken", "v1-soci").digest == report["soci_image"]["digest"]
    # A zTOC blob lost after the tag was written: the check sees it, the full run restores it.
    ztoc = report["ztocs"][0]["digest"]
    r = requests.delete(f"{registry.url}/v2/rerun/broken/blobs/{ztoc}", timeout=10)
    assert r.status_code == 202, r.text
    assert not client.has_blob("rerun/broken", ztoc)
    code, again = runs.run()
    assert code == 0 and again["outcome"] == "indexed" and runs.layer_gets() == 1
    assert again["written"] == 1  # only the lost zTOC
    assert client.has_blob("rerun/broken", ztoc)
    code, last = runs.run()
    assert code == 0 and last["outcome"] == "up-to-date" and runs.layer_gets() == 0


def test_tag_pointing_at_something_else_gets_the_full_run(
    registry: Registry, proxy: FaultProxy, layout: Path, tmp_path: Path
) -> None:
    client = RegistryClient(registry.host)
    runs = make_runs(client, proxy, layout, "rerun/other", tmp_path)
    # v1-soci already names the original image (not SOCI-enabled): never trusted.
    original = client.get_manifest("rerun/other", "v1")
    client.put_manifest("rerun/other", "v1-soci", original.data, original.media_type)
    code, report = runs.run()
    assert code == 0 and report["outcome"] == "indexed" and runs.layer_gets() == 1
    assert client.get_manifest("rerun/other", "v1-soci").digest == report["soci_image"]["digest"]


def test_v1_rerun_downloads_no_layer(
    registry: Registry, proxy: FaultProxy, layout: Path, tmp_path: Path
) -> None:
    runs = make_runs(RegistryClient(registry.host), proxy, layout, "rerun/v1", tmp_path)
    code, first = runs.run("--format", "v1")
    assert code == 0 and first["outcome"] == "indexed" and runs.layer_gets() == 1
    code, second = runs.run("--format", "v1")
    assert code == 0 and second["outcome"] == "up-to-date"
    assert runs.layer_gets() == 0 and runs.writes() == []
    assert comparable(second) == comparable(first)
    code, other = runs.run("--format", "v1", "--span-size", "1048576")
    assert code == 0 and other["outcome"] == "indexed" and runs.layer_gets() == 1
    code, again = runs.run("--format", "v1", "--span-size", "1048576")
    assert code == 0 and again["outcome"] == "up-to-date" and runs.layer_gets() == 0


def test_skopeo_copy_of_a_soci_image_is_up_to_date(
    registry: Registry, proxy: FaultProxy, layout: Path, tmp_path: Path
) -> None:
    """skopeo 1.9 drops `artifactType` from the SOCI index entries when it copies the image
    index: the copy is still recognised (index, rerun check and verify), nothing moves."""
    client = RegistryClient(registry.host)
    runs = make_runs(client, proxy, layout, "rerun/skopeo-src", tmp_path)
    code, first = runs.run()
    assert code == 0 and first["outcome"] == "indexed"
    flags = ["--all", "--src-tls-verify=false", "--dest-tls-verify=false"]
    for tag in ("v1", "v1-soci"):
        skopeo(
            "copy",
            *flags,
            f"docker://{registry.host}/rerun/skopeo-src:{tag}",
            f"docker://{registry.host}/rerun/skopeo-copy:{tag}",
        )
    copied = client.get_manifest("rerun/skopeo-copy", "v1-soci")
    assert copied.digest != first["soci_image"]["digest"]  # the copy lost artifactType
    assert b"artifactType" not in copied.data
    runs.repo = "rerun/skopeo-copy"
    code, again = runs.run()
    assert code == 0 and again["outcome"] == "up-to-date", again["message"]
    assert runs.layer_gets() == 0 and runs.writes() == []
    assert again["soci_image"] == {"digest": copied.digest, "tag": "v1-soci"}
    # The copy itself, re-indexed (its SOCI index entries are not read as images) ...
    out = tmp_path / "copy.json"
    argv = ["index", f"{registry.host}/rerun/skopeo-copy:v1-soci", "--tag", "again"]
    assert main([*argv, "--output-json", str(out)]) == 0
    again_copy = json.loads(out.read_text())
    assert again_copy["outcome"] == "indexed"
    assert sorted(i["platform"] for i in again_copy["soci_indexes"]) == [
        "linux/amd64",
        "linux/arm64",
    ]
    written = json.loads(client.get_manifest("rerun/skopeo-copy", "again").data)
    soci = [
        m
        for m in written["manifests"]
        if "com.amazon.soci.image-manifest-digest" in (m.get("annotations") or {})
    ]
    assert len(soci) == 2 and all(m.get("artifactType") for m in soci)  # replaced, not doubled
    # ... and verified.
    assert main(["verify", f"{registry.host}/rerun/skopeo-copy:v1-soci", "--sample", "3"]) == 0

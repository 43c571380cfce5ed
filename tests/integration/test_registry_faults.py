"""Registry faults through a local proxy: retries finish the job, or a clean error leaves the image intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from soci_ci.cli import main
from soci_ci.oci.digest import sha256_digest
from tests.servers.fault_proxy import FaultProxy, Rule
from tests.servers.registry import Registry
from tests.support.tools import skopeo

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCI_CI_RETRY_BASE_SECONDS", "0.02")
    monkeypatch.setenv("SOCI_CI_REGISTRY_TIMEOUT", "10")


@pytest.fixture(scope="module")
def example_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = tmp_path_factory.mktemp("faults") / "layout"
    assert main(["example", f"oci:{layout}:app"]) == 0
    return layout


def push(layout: Path, registry: Registry, repo: str) -> None:
    skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{layout}:app", f"docker://{registry.host}/{repo}:1"
    )


def tag_digest(registry: Registry, repo: str, tag: str) -> str | None:
    r = requests.get(
        f"{registry.url}/v2/{repo}/manifests/{tag}",
        timeout=10,
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
        },
    )
    return sha256_digest(r.content) if r.status_code == 200 else None


@pytest.mark.parametrize(
    ("rule", "repo"),
    [
        (Rule("GET", "/manifests/1", "status", times=2, status=500), "f/e500"),
        (Rule("POST", "/blobs/uploads/", "status", times=2, status=429, retry_after="0"), "f/e429"),
        (Rule("PUT", "/blobs/uploads/", "reset_request", times=1), "f/reset-upload"),
        (
            Rule("GET", "/blobs/sha256:a4", "reset_response", times=2, after=300_000),
            "f/reset-download",
        ),
        (
            Rule("PUT", "/manifests/sha256:", "status", times=1, status=503, retry_after="0"),
            "f/e503",
        ),
    ],
)
def test_temporary_faults_are_retried(
    proxy: FaultProxy,
    registry: Registry,
    example_layout: Path,
    tmp_path: Path,
    rule: Rule,
    repo: str,
) -> None:
    push(example_layout, registry, repo)
    original = tag_digest(registry, repo, "1")
    proxy.add(rule)
    out = tmp_path / "r.json"
    assert main(["index", f"{proxy.host}/{repo}:1", "--output-json", str(out)]) == 0
    assert any(what != "forward" for _, _, what in proxy.log), "the fault was never hit"
    report = json.loads(out.read_text())
    assert tag_digest(registry, repo, "1-soci") == report["soci_image"]["digest"]
    assert tag_digest(registry, repo, "1") == original
    assert main(["verify", f"{registry.host}/{repo}:1-soci", "--sample", "3"]) == 0


def test_stalled_registry_times_out_and_retries(
    proxy: FaultProxy, registry: Registry, example_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(example_layout, registry, "f/stall")
    monkeypatch.setenv("SOCI_CI_REGISTRY_TIMEOUT", "1")
    proxy.add(Rule("GET", "/manifests/1", "stall", times=1, seconds=3))
    assert main(["index", f"{proxy.host}/f/stall:1"]) == 0


def test_persistent_failure_leaves_original_intact_and_rerun_finishes(
    proxy: FaultProxy, registry: Registry, example_layout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = "f/broken"
    push(example_layout, registry, repo)
    original = tag_digest(registry, repo, "1")
    # The image index (the last manifest before the tag) keeps failing.
    proxy.add(Rule("PUT", "/manifests/sha256:", "status", times=100, status=500))
    assert main(["index", f"{proxy.host}/{repo}:1"]) == 4
    err = capsys.readouterr().err
    error = next(line for line in err.splitlines() if line.startswith("error: "))
    assert repo in error and "HTTP 500" in error
    assert tag_digest(registry, repo, "1") == original
    assert tag_digest(registry, repo, "1-soci") is None  # no tag points at a partial graph
    proxy.rules.clear()
    assert main(["index", f"{proxy.host}/{repo}:1"]) == 0
    assert tag_digest(registry, repo, "1-soci") is not None
    assert main(["verify", f"{registry.host}/{repo}:1-soci", "--sample", "2"]) == 0


def test_missing_repository_is_a_clear_error(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", f"{registry.host}/no/such:tag"]) == 4
    err = capsys.readouterr().err
    assert "no/such" in err and "404" in err

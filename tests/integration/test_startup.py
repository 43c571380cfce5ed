"""`soci-ci startup` against the real test dockerd and registry: exact files, exact spans.

The image (tests/support/startup_images.py; the fixtures are tests/integration/conftest.py's) reads a known set of files at start; the expected
spans are computed here from the zTOCs `soci-ci index` pushed, by interval overlap of each
file's bytes with the checkpoints (not by the code under test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from soci_ci.cli import main
from soci_ci.soci.ztoc_reader import parse_checkpoints, parse_ztoc
from tests.servers.registry import Registry
from tests.support.startup_checks import leftovers, run_startup
from tests.support.startup_images import APP_SPAN, EXPECTED, SHADOW_UPPER, docker

pytestmark = pytest.mark.integration

SPAN = APP_SPAN  # app_image is indexed with it
REPO = Path(__file__).resolve().parents[2]


def _expected_spans(registry: Registry, layer: dict[str, Any], path: str) -> list[int]:
    blob = requests.get(f"{registry.url}/v2/startup/app/blobs/{layer['ztoc']}", timeout=30).content
    z = parse_ztoc(blob)
    entry = next(e for e in z.entries if e.name.decode().lstrip("./") == path.lstrip("/"))
    _, checkpoints = parse_checkpoints(z.checkpoints_blob)
    bounds = [cp.out_offset for cp in checkpoints] + [z.uncompressed_archive_size]
    lo, hi = entry.uncompressed_offset, entry.uncompressed_offset + entry.uncompressed_size
    return [i for i in range(len(checkpoints)) if bounds[i] < hi and bounds[i + 1] > lo]


def test_exact_files_layers_and_spans(
    docker_engine: str,
    app_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    data = run_startup(
        [
            app_image,
            "--soci-image",
            f"{app_image}-soci",
            "--ready-log-regex",
            "^READY$",
            "--write-prefetch",
            str(tmp_path / "prefetch"),
        ],
        tmp_path / "s.json",
    )
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert data["recording"]["ready_by"] == "log"
    layers = data["layers"]
    digests = [la["digest"] for la in layers]
    by_path = {f["path"]: f for f in data["files"]}
    # Attribution: the data layer (deep: 6 layers above it) holds the reads and the tool;
    # shadow.txt comes from the upper layer that replaced it; gone.txt was never read.
    data_layer = digests[1]
    for path in ("/data/f007", "/data/f123", "/data/f250", "/opt/deep/bin/tool"):
        assert by_path[path]["layer"] == data_layer
    assert by_path["/data/shadow.txt"]["layer"] == digests[4]
    assert by_path["/data/shadow.txt"]["size"] == len(SHADOW_UPPER)
    assert "/data/gone.txt" not in by_path
    assert by_path["/bin/busybox"]["layer"] == digests[0]
    assert by_path["/lib/x86_64-linux-gnu/libc.so.6"]["kind"] == "open"
    assert by_path["/opt/deep/bin/tool"]["kind"] == "exec"
    # Spans: exactly what the pushed zTOC says for each file of the indexed layer.
    indexed = [la for la in layers if la["indexed"]]
    assert [la["digest"] for la in indexed] == [data_layer]
    wanted: set[int] = set()
    for path in ("/data/f007", "/data/f123", "/data/f250", "/opt/deep/bin/tool"):
        spans = _expected_spans(registry, indexed[0], path)
        assert by_path[path]["spans"] == spans, path
        wanted |= set(spans)
    assert indexed[0]["spans_read"] == len(wanted)
    assert indexed[0]["requests"] == len(wanted)
    assert 0 < indexed[0]["fetch_bytes"] < indexed[0]["size"]
    totals = data["totals"]
    assert totals["image_bytes"] == sum(la["size"] for la in layers)
    unindexed = sum(la["size"] for la in layers if not la["indexed"])
    assert totals["fetch_bytes"] == unindexed + indexed[0]["fetch_bytes"]
    assert totals["fetch_requests"] == len(wanted) + len(layers) - 1
    assert totals["startup_files"] == len(EXPECTED)
    assert totals["startup_file_bytes"] == sum(f["size"] for f in data["files"])
    assert data["estimate"]["label"].startswith("estimate")
    out = capsys.readouterr().out
    assert "a lazy start fetches" in out and "/data/f123" in out
    # The prefetch artifact of the indexed layer, in upstream's format.
    artifact = json.loads(
        (tmp_path / "prefetch" / f"{data_layer.replace(':', '-')}.prefetch.json").read_text()
    )
    assert artifact["version"] == "1.0"
    assert artifact["prefetch_spans"] and all(
        s["start_span"] <= s["end_span"] for s in artifact["prefetch_spans"]
    )
    assert json.loads((tmp_path / "prefetch" / "prefetch-files.json").read_text()) == list(EXPECTED)
    assert leftovers(docker_engine) == []

    # Without the SOCI index: zTOCs built as `soci-ci index` would give the same spans.
    built = run_startup(
        [app_image, "--ready-log-regex", "^READY$", "--span-size", str(SPAN)], tmp_path / "b.json"
    )
    assert built["files"] == data["files"]
    assert built["totals"]["fetch_bytes"] == totals["fetch_bytes"]
    assert built["ztoc_source"].startswith("built")


@pytest.mark.parametrize("recorder", ["local", "helper"])
def test_overlay2_pulled_image_gives_the_same_files_and_spans(
    overlay2_engine: str,
    app_image: str,
    helper_image: str,
    docker_engine: str,
    recorder: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The overlay2 engine does not have the image: it pulls it from the registry. The helper
    # image is copied over through `docker save | docker load` (nothing from a registry).
    if recorder == "helper" and not docker(overlay2_engine, "images", "-q", helper_image):
        saved = subprocess.run(
            ["docker", "save", helper_image],
            env={**os.environ, "DOCKER_HOST": docker_engine},
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(
            ["docker", "load"],
            input=saved,
            env={**os.environ, "DOCKER_HOST": overlay2_engine},
            check=True,
            capture_output=True,
        )
    monkeypatch.setenv("DOCKER_HOST", overlay2_engine)
    reference = (
        run_startup(
            [app_image, "--soci-image", f"{app_image}-soci", "--ready-log-regex", "READY"],
            tmp_path / "ref.json",
        )
        if recorder == "local"
        else None
    )
    data = run_startup(
        [
            app_image,
            "--soci-image",
            f"{app_image}-soci",
            "--ready-log-regex",
            "READY",
            "--recorder",
            recorder,
            "--helper-image",
            helper_image,
        ],
        tmp_path / "o.json",
    )
    assert data["recording"]["storage_driver"] == "overlay2"
    assert data["recording"]["mode"] == recorder
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    if reference is not None:
        assert reference["files"] == data["files"]
    assert leftovers(overlay2_engine) == []


def test_helper_container_records_the_same(
    docker_engine: str,
    app_image: str,
    helper_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    data = run_startup(
        [
            app_image,
            "--soci-image",
            f"{app_image}-soci",
            "--ready-log-regex",
            "READY",
            "--recorder",
            "helper",
            "--helper-image",
            helper_image,
        ],
        tmp_path / "h.json",
    )
    assert data["recording"]["mode"] == "helper"
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert leftovers(docker_engine) == []


def test_never_ready_ends_at_the_timeout_and_is_removed(
    docker_engine: str, app_image: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    started = time.monotonic()
    rc = main(["startup", app_image, "--ready-log-regex", "NEVER", "--timeout", "3"])
    assert rc == 8
    assert time.monotonic() - started < 60
    assert "not ready within 3 s" in capsys.readouterr().err
    assert leftovers(docker_engine) == []


def test_sigterm_removes_the_helper_and_the_container(
    docker_engine: str, app_image: str, helper_image: str
) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_engine, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "soci_ci",
            "startup",
            app_image,
            "--ready-log-regex",
            "NEVER",
            "--timeout",
            "120",
            "--recorder",
            "helper",
            "--helper-image",
            helper_image,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            out = docker(docker_engine, "ps", "-q", "--filter", "label=soci-ci.startup=target")
            if out.strip():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the watched container never started")
        assert docker(docker_engine, "ps", "-q", "--filter", "label=soci-ci.startup=helper")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert leftovers(docker_engine) == []


def test_run_shows_the_startup_figures_and_gates_them_exactly(
    docker_engine: str,
    app_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    for name in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "soci-ci.yml"
    config.write_text(
        "version: 1\n"
        f"image: {{repository: {registry.host}/startup/app}}\n"
        f"soci: {{span_size: {SPAN}, verify: {{enabled: false}}}}\n"
        "startup: {ready_log_regex: '^READY$'}\n"  # enabled: auto, the engine is reachable
        "thresholds:\n"
        "  startup:\n"
        "    - {metric: fetch_requests, max: 3}\n"
        "    - {metric: fetch_bytes, max_increase_percent: 10}\n"
        "report: {comment: false}\n"
    )
    work = tmp_path / "work"
    monkeypatch.chdir(tmp_path)  # the workspace: the config and work directory are inside it
    code = main(["run", "--config", config.name, "--image", app_image, "--work-dir", "work"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 1, captured.err
    data = json.loads((work / "startup.json").read_text())
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    requests_made = data["totals"]["fetch_requests"]
    assert requests_made > 3
    assert "### Startup working set" in out
    assert f"| fetch requests | {requests_made} | – | – |" in out
    assert f"❌ `startup.fetch_requests <= 3` | fetch_requests is {requests_made} (limit 3)" in out
    assert "➖ `startup.fetch_bytes +10 % vs base`" in out  # no base-branch record here
    assert "fail (startup threshold(s) failed: startup.fetch_requests <= 3)" in captured.err
    assert leftovers(docker_engine) == []


def test_run_verifies_exactly_the_files_read_at_start(
    docker_engine: str,
    app_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the startup working set known, `run` measures it before verify, and verify reads
    lazily exactly those files, each from the layer the application read it from."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    for name in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "soci-ci.yml"
    config.write_text(
        "version: 1\n"
        f"image: {{repository: {registry.host}/startup/app}}\n"
        f"soci: {{span_size: {SPAN}, tag: ws-soci}}\n"
        "startup: {ready_log_regex: '^READY$'}\n"
        "report: {comment: false}\n"
    )
    work = tmp_path / "work"
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--config", config.name, "--image", app_image, "--work-dir", "work"])
    assert code == 0
    startup = json.loads((work / "startup.json").read_text())
    verify = json.loads((work / "verify.json").read_text())
    indexed = {la["layer"] for i in verify["indexes"] for la in i["layers"]}
    read = sorted(
        (f["layer"], f["path"].lstrip("/")) for f in startup["files"] if f["layer"] in indexed
    )
    checked = sorted(
        (layer["layer"], f["name"].removeprefix("./"))
        for index in verify["indexes"]
        for layer in index["layers"]
        for f in layer["files"]
    )
    assert len(read) > 3 and checked == read
    # Files of the indexed layers that the application did not read are not fetched.
    assert sum(la["files_total"] for i in verify["indexes"] for la in i["layers"]) > len(read)
    assert verify["ok"]

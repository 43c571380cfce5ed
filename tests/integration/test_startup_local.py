"""`soci-ci startup` on local images (built or loaded in the test dockerd, never pushed).

There is no pushed blob: the expected layer digests and spans are computed here, independently
of the code under test, from the engine's own `docker save` archive (each layer tar gzipped at
level 6, as the docs say a push would; its zTOC built with the same span size; each file's
spans by interval overlap of its bytes with the checkpoints: tests/support/startup_checks.py).
The edge image (tests/support/startup_images.py `edge_layers`) pins the attribution's tricky
cases: an opaque directory, a file replaced by a directory and back, a file deleted and
re-added, hard links in two layers, absolute, relative and directory symbolic links, the
engine's bind mounts of /etc/hosts, /etc/resolv.conf and /etc/hostname, /proc, /sys and /dev, a
non-root USER and a `/bin/sh -c` entrypoint.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from soci_ci.cli import main
from tests.servers.registry import Registry
from tests.support.startup_checks import expected_spans, gzip6, leftovers, run_startup
from tests.support.startup_images import (
    EDGE,
    EDGE_EXPECTED,
    EDGE_SPAN,
    EXPECTED,
    LOCAL,
    app_context,
    docker,
    edge_archive,
    load,
)

pytestmark = pytest.mark.integration

SPAN = 1 << 20


@pytest.fixture(scope="module")
def edge_image(docker_engine: str) -> str:
    load(docker_engine, edge_archive(EDGE))
    return EDGE


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary directory for soci-ci alone, to check it is left empty."""
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    yield work


def saved_layers(docker_host: str, image: str) -> list[bytes]:
    """The layer tars of `docker save IMAGE`, in the image's order (the test's own reading)."""
    out = subprocess.run(
        ["docker", "save", image],
        env={**os.environ, "DOCKER_HOST": docker_host},
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        return [tar.extractfile(name).read() for name in manifest[0]["Layers"]]  # type: ignore[union-attr]


def test_a_local_image_gives_exact_files_layers_and_locally_computed_spans(
    docker_engine: str,
    local_image: str,
    own_tmp: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    data = run_startup(
        [local_image, "--ready-log-regex", "^READY$", "--span-size", str(SPAN)],
        tmp_path / "s.json",
    )
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert data["image_source"] == "engine" and data["computed_locally"] is True
    assert (
        data["image_id"]
        == docker(docker_engine, "image", "inspect", "-f", "{{.Id}}", LOCAL).strip()
    )
    tars = saved_layers(docker_engine, local_image)
    layers = data["layers"]
    assert [la["digest"] for la in layers] == [
        "sha256:" + hashlib.sha256(gzip6(t)).hexdigest() for t in tars
    ]
    assert [la["size"] for la in layers] == [len(gzip6(t)) for t in tars]
    by_path = {f["path"]: f for f in data["files"]}
    data_layer = layers[1]["digest"]
    for path in ("/data/f007", "/data/f123", "/data/f250", "/opt/deep/bin/tool"):
        assert by_path[path]["layer"] == data_layer
        assert by_path[path]["spans"] == expected_spans(tars[1], SPAN, path), path
    assert [la["indexed"] for la in layers].count(True) == 1 and layers[1]["indexed"]
    out = capsys.readouterr().out
    assert "COMPUTED LOCALLY" in out
    assert any("computed locally" in n for n in data["notes"])
    assert list(own_tmp.iterdir()) == []  # the exported layers are gone
    assert leftovers(docker_engine) == []


@pytest.mark.parametrize("engine", ["vfs", "overlay2"])
def test_the_tricky_cases_of_attribution(
    engine: str,
    docker_engine: str,
    overlay2_engine: str,
    helper_image: str,
    edge_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = docker_engine if engine == "vfs" else overlay2_engine
    args = [edge_image, "--ready-log-regex", "^READY$", "--span-size", str(EDGE_SPAN)]
    args += ["--min-layer-size", "0"]  # every layer gets a zTOC: every file's spans count
    if engine == "overlay2":
        load(host, edge_archive(EDGE))
        if not docker(host, "images", "-q", helper_image):
            saved = subprocess.run(
                ["docker", "save", helper_image],
                env={**os.environ, "DOCKER_HOST": docker_engine},
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(
                ["docker", "load"],
                input=saved,
                env={**os.environ, "DOCKER_HOST": host},
                check=True,
                capture_output=True,
            )
        args += ["--recorder", "helper", "--helper-image", helper_image]
    monkeypatch.setenv("DOCKER_HOST", host)
    data = run_startup(args, tmp_path / "e.json")
    assert data["recording"]["storage_driver"] == engine
    digests = [la["digest"] for la in data["layers"]]
    assert [(f["path"], digests.index(f["layer"])) for f in data["files"]] == list(EDGE_EXPECTED)
    assert data["not_in_image"] == []  # /etc/hosts & co are the engine's, not the image's
    tars = saved_layers(host, edge_image)
    for f in data["files"]:
        layer = digests.index(f["layer"])
        assert f["spans"] == expected_spans(tars[layer], EDGE_SPAN, f["path"]), f["path"]
    assert leftovers(host) == []


def test_a_registry_tag_only_built_here_falls_back_to_the_engine(
    docker_engine: str,
    local_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    tagged = f"{registry.host}/startup-local/app:1"  # never pushed: the registry has no such tag
    docker(docker_engine, "tag", local_image, tagged)
    data = run_startup([tagged, "--ready-log-regex", "^READY$"], tmp_path / "f.json")
    assert data["image_source"] == "engine" and data["computed_locally"] is True
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert any("registry cannot give it" in n for n in data["notes"])

    # Neither in the engine nor in the registry: one line, exit 8.
    capsys.readouterr()
    missing = f"{registry.host}/startup-local/missing:1"
    assert main(["startup", missing, "--ready-after", "1"]) == 8
    err = capsys.readouterr().err
    assert f"error: image {missing} is neither in the Docker engine nor in its registry" in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert main(["startup", "soci-ci-test/none:1", "--image-source", "engine"]) == 8
    assert "the Docker engine has no image soci-ci-test/none:1" in capsys.readouterr().err


def test_run_measures_a_local_image(
    docker_engine: str,
    local_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    for name in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "soci-ci.yml").write_text(
        "version: 1\n"
        "soci: {enabled: false}\n"
        "probe: {enabled: false}\n"
        "startup: {ready_log_regex: '^READY$'}\n"
        "report: {comment: false}\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--config", "soci-ci.yml", "--image", local_image, "--work-dir", "work"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads((tmp_path / "work" / "startup.json").read_text())
    assert data["computed_locally"] is True
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert "**computed locally**" in out


def test_run_builds_then_measures_the_built_image_without_pulling_it(
    docker_engine: str,
    base_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    for name in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    app_context(tmp_path, base_image)
    repository = f"{registry.host}/startup-run/app"
    (tmp_path / "soci-ci.yml").write_text(
        "version: 1\n"
        f"image: {{repository: {repository}, context: ctx, tags: ['1'], builder: sdk}}\n"
        "soci: {enabled: false}\n"
        "probe: {enabled: false}\n"
        "startup: {ready_log_regex: '^READY$'}\n"
        "report: {comment: false}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--config", "soci-ci.yml", "--work-dir", "work"]) == 0
    data = json.loads((tmp_path / "work" / "startup.json").read_text())
    built = json.loads((tmp_path / "work" / "build.json").read_text())
    assert data["image_id"] == built["image_id"]  # the engine's own build, not a pull
    assert data["image_source"] == "registry" and data["computed_locally"] is False
    assert [f["path"] for f in data["files"]] == list(EXPECTED)

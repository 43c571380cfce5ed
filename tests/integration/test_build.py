"""`soci-ci build` against a real Docker engine and a real registry; then indexing that digest."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from soci_ci.cli import main
from tests.conftest import require
from tests.servers.registry import Registry

pytestmark = pytest.mark.integration


def context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "blob.bin").write_bytes(random.Random(3).randbytes(12 * 1024 * 1024))
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_build_push_and_index_the_pushed_digest(
    docker_engine: str,
    base_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    ctx = context(
        tmp_path,
        f"FROM {base_image}\nARG GREETING\nCOPY blob.bin /app/blob.bin\n"
        'RUN echo $GREETING > /app/stamp\nCMD ["cat", "/app/stamp"]\n',
    )
    out = tmp_path / "build.json"
    rc = main(
        [
            "build",
            "--context",
            str(ctx),
            "-t",
            f"{registry.host}/built/app:1",
            "--build-arg",
            "GREETING=hi",
            "--label",
            "org.example=1",
            "--network",
            "none",
            "--builder",
            "sdk",
            "--index",
            "--output-json",
            str(out),
        ]
    )
    assert rc == 0
    report = json.loads(out.read_text())
    digest = report["digest"]
    assert report["reference"] == f"{registry.host}/built/app@{digest}"
    require("skopeo")
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{registry.host}/built/app@{digest}",
        ],
        check=True,
        capture_output=True,
    ).stdout
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    # `--index` ran on exactly that digest: the SOCI-enabled tag names it as the original.
    assert main(["verify", f"{registry.host}/built/app:{digest.split(':')[1][:12]}-soci"]) == 0


def test_failing_dockerfile_is_a_build_error(
    docker_engine: str,
    base_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    ctx = context(tmp_path, f"FROM {base_image}\nRUN echo going to fail && false\n")
    assert (
        main(["build", "--context", str(ctx), "--no-push", "--network", "none", "--builder", "sdk"])
        == 5
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and "returned a non-zero code" in err[0]


def test_unreachable_engine_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    ctx = context(tmp_path, "FROM scratch\n")
    assert main(["build", "--context", str(ctx), "--no-push", "--builder", "sdk"]) == 5
    assert "Docker engine" in capsys.readouterr().err

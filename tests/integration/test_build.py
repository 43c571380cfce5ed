"""`soci-ci build` against a real Docker engine and a real registry; then indexing that digest."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import tarfile
from pathlib import Path

import pytest

from soci_ci.cli import main
from tests.servers.registry import Registry
from tests.support.tools import skopeo

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
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/built/app@{digest}"
    )
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


BUILDKIT_ONLY = (
    "FROM {base}\n"
    "RUN --mount=type=cache,target=/cache echo cached > /cache/x && echo built > /built\n"
    "COPY --chmod=755 run.sh /run.sh\n"
    "COPY blob.bin /app/blob.bin\n"
)


def cli_with_builtin_buildkit() -> str:
    """Debian 12's docker.io CLI (20.10): BuildKit client built in, no buildx plugin needed."""
    for candidate in ("/usr/bin/docker", "docker"):
        probe = subprocess.run(
            [candidate, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip().split(".")[0].isdigit() and int(probe.stdout.split(".")[0]) < 23:
            return candidate
    pytest.fail("no docker CLI older than 23.0 (.ci/run installs Debian's docker.io)")


def test_buildkit_only_dockerfile_builds_pushes_and_indexes(
    docker_engine: str,
    base_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    monkeypatch.setenv("SOCI_CI_DOCKER_CLI", cli_with_builtin_buildkit())
    ctx = context(tmp_path, BUILDKIT_ONLY.format(base=base_image))
    (ctx / "run.sh").write_text("echo run\n")
    os.chmod(ctx / "run.sh", 0o644)
    out = tmp_path / "build.json"
    tag = f"{registry.host}/built/buildkit:1"
    args = ["build", "--context", str(ctx), "-t", tag, "--network", "none", "--index"]
    assert main([*args, "--builder", "auto", "--output-json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["builder"] == "buildkit"
    # BuildKit really ran: COPY --chmod applied the mode, the cache mount left no trace.
    env = {**os.environ, "DOCKER_HOST": docker_engine}
    created = subprocess.run(
        ["docker", "create", tag, "sh"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        copied = subprocess.run(
            ["docker", "cp", f"{created}:/run.sh", "-"], env=env, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(copied)) as tar:
            assert tar.getmember("run.sh").mode & 0o777 == 0o755
    finally:
        subprocess.run(["docker", "rm", created], env=env, check=False, capture_output=True)
    digest = report["digest"]
    assert main(["verify", f"{registry.host}/built/buildkit:{digest.split(':')[1][:12]}-soci"]) == 0


def test_buildkit_only_dockerfile_fails_on_the_classic_builder(
    docker_engine: str,
    base_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine)
    ctx = context(tmp_path, BUILDKIT_ONLY.format(base=base_image))
    (ctx / "run.sh").write_text("echo run\n")
    args = ["build", "--context", str(ctx), "--no-push", "--network", "none"]
    assert main([*args, "--builder", "sdk"]) == 5
    assert "BuildKit" in capsys.readouterr().err

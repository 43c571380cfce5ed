"""`soci-ci build` with the real Debian 13 docker CLI + buildx (what the action image has),
through the Engine 29 API gate: BuildKit features, build secrets, cache import/export, the
registry login handed to the CLI for its host only, the docker-container builder path; and
the ECR token (moto) handed to the CLI for the push and ECR base images."""

from __future__ import annotations

import base64
import json
import os
import random
import stat
import tempfile
from pathlib import Path

import pytest

from soci_ci.build.docker_login import docker_env
from soci_ci.build.docker_tools import DockerTools
from soci_ci.cli import main
from tests.servers.engine_gate import EngineGate
from tests.servers.moto import Moto
from tests.servers.registry import Registry
from tests.support.runner import DockerCli
from tests.support.tools import skopeo

pytestmark = pytest.mark.integration
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def buildx(
    runner_docker: DockerCli, engine29: EngineGate, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> DockerCli:
    """soci-ci's environment: Debian 13's CLI, its plugin found through the user's config."""
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(
        json.dumps({"cliPluginsExtraDirs": [str(runner_docker.plugins)]})
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("DOCKER_HOST", engine29.host)
    monkeypatch.setenv("SOCI_CI_DOCKER_CLI", str(runner_docker.binary))
    for key in ("SOCI_CI_REGISTRY_HOST", "SOCI_CI_REGISTRY_USERNAME", "SOCI_CI_REGISTRY_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    return runner_docker


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "blob.bin").write_bytes(random.Random(5).randbytes(1 << 20))
    (ctx / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_buildkit_secret_and_login_for_the_push_host_only(
    buildx: DockerCli,
    base_image: str,
    registry_basic: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOCI_CI_REGISTRY_HOST", registry_basic.host)
    monkeypatch.setenv("SOCI_CI_REGISTRY_USERNAME", str(registry_basic.username))
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", str(registry_basic.password))
    monkeypatch.setenv("NPM_TOKEN", "s3cret-npm-token-value")
    ctx = _context(
        tmp_path,
        f"FROM {base_image}\n"
        "RUN --mount=type=secret,id=npm cat /run/secrets/npm | wc -c > /secret-length\n"
        "COPY --chmod=755 run.sh /run.sh\nCOPY blob.bin /blob.bin\n",
    )
    out = tmp_path / "build.json"
    tag = f"{registry_basic.host}/buildx/app:1"
    argv = ["build", "--context", str(ctx), "-t", tag, "--network", "none"]
    argv += ["--secret", "id=npm,env=NPM_TOKEN", "--cache-to", "type=inline"]
    assert main([*argv, "--output-json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["builder"] == "buildx"
    assert report["reference"] == f"{registry_basic.host}/buildx/app@{report['digest']}"
    logs = capsys.readouterr().err
    assert "s3cret-npm-token-value" not in logs
    assert f"docker login for the build: {registry_basic.host}" in logs
    creds = f"{registry_basic.username}:{registry_basic.password}"
    raw = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, f"docker://{tag}")
    assert json.loads(raw)["layers"]
    # The temporary DOCKER_CONFIG is gone; nothing was written to the user's config.
    assert not list(Path(tempfile.gettempdir()).glob("soci-ci-docker-*"))
    user_config = json.loads((Path(os.environ["HOME"]) / ".docker" / "config.json").read_text())
    assert "auths" not in user_config
    # Cache import from the pushed image (inline cache): the layers are reused.
    again = ["build", "--context", str(ctx), "-t", f"{registry_basic.host}/buildx/app:2"]
    again += ["--network", "none", "--secret", "id=npm,env=NPM_TOKEN", "--cache-from", tag]
    assert main(again) == 0
    assert "importing cache manifest from" in capsys.readouterr().err


def test_several_platforms_use_a_docker_container_builder(
    buildx: DockerCli,
    base_image: str,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The engine's own BuildKit (docker driver) builds one platform: several need a
    docker-container builder. Its image cannot be pulled here (no Docker Hub), so a mirror that
    lacks it is named and the error must say which step failed."""
    monkeypatch.setenv("SOCI_CI_BUILDKIT_IMAGE", f"{registry.host}/mirror/buildkit:missing")
    ctx = _context(tmp_path, f"FROM {base_image}\nCOPY blob.bin /blob.bin\n")
    argv = ["build", "--context", str(ctx), "-t", f"{registry.host}/multi/app:1"]
    assert main([*argv, "--platform", "linux/amd64,linux/arm64"]) == 5
    err = capsys.readouterr().err
    assert "docker buildx create (docker-container builder) failed" in err
    ls = buildx(
        "buildx", "ls", env={**buildx.env(), "DOCKER_CONFIG": os.environ["HOME"] + "/.docker"}
    )
    assert "soci-ci-" not in ls.stdout  # the temporary builder was removed


def test_ecr_tokens_reach_the_cli_for_push_and_base_hosts(
    moto_server: Moto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 → moto's GetAuthorizationToken → the CLI's temporary config, for the ECR push
    host and an ECR base image of another account; a non-ECR base host gets nothing."""
    from soci_ci.app.build import build_logins
    from soci_ci.build.spec import BuildSpec

    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", moto_server.endpoint)
    monkeypatch.setenv("HOME", str(tmp_path))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    other = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
    (ctx / "Dockerfile").write_text(
        f"FROM {other}/base:1 AS build\nFROM ghcr.io/o/tool:1\nFROM build\n"
    )
    spec = BuildSpec(context=ctx, tags=(f"{ECR}/app:1",))
    logins = build_logins(spec, explicit=None)
    assert [w.host for w in logins] == [ECR, other]
    tools = DockerTools(environ={"HOME": str(tmp_path)}, config_dir=tmp_path / ".docker")
    with docker_env(logins, tools) as given:
        config_dir = Path(given.environ["DOCKER_CONFIG"])
        assert not config_dir.is_relative_to(tmp_path)
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
        config = json.loads((config_dir / "config.json").read_text())
        assert stat.S_IMODE((config_dir / "config.json").stat().st_mode) == 0o600
        user, _, password = base64.b64decode(config["auths"][ECR]["auth"]).decode().partition(":")
        assert user == "AWS" and password
        assert set(config["auths"]) == {ECR, other}
    assert not config_dir.exists()

"""The production path: the action image built and run exactly as GitHub's runner does
(tests/support/runner.py), on Debian 13's docker CLI, against an engine that refuses API
versions below 1.44 like Docker Engine 29, with a Basic-auth registry, a token-auth registry
and the GitHub fake.

The image is built once per session (tests/integration/conftest.py: `action_image`).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github_api import BOT, FakeGitHub
from tests.integration.conftest import ActionImage
from tests.servers.engine_gate import EngineGate
from tests.servers.registry import Registry
from tests.servers.token_server import TokenServer
from tests.support.locks import runtime_pins
from tests.support.runner import DockerCli, RunnerJob, action_inputs
from tests.support.tools import skopeo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_runnerTOKENthatMUSTnotLEAK"
EVENT = json.loads((ROOT / "tests" / "data" / "pull_request_event.json").read_text())
HEAD_SHA = EVENT["pull_request"]["head"]["sha"]
MERGE_SHA = "f" * 40
CONFIG = (
    "version: 1\n"
    "soci:\n  min_layer_size: 1048576\n  verify: {enabled: true, sample: 20}\n"
    "report:\n  comment: true\n"
)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(users={TOKEN: BOT}, bot_tokens={TOKEN}).serve()
    yield fake
    fake.close()


@pytest.fixture
def job(tmp_path: Path) -> Iterator[RunnerJob]:
    runner_job = RunnerJob(tmp_path / "runner")
    yield runner_job
    runner_job.cleanup()


def _own(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        os.lchown(item, 1001, 1001)


def _user_repo(job: RunnerJob, base: str, config: str | None) -> None:
    """A user's repository: an app whose base image may be private, a 2 MiB layer."""
    app = job.workspace / "app"
    app.mkdir()
    (app / "data.bin").write_bytes(random.Random(11).randbytes(2 << 20))
    (app / "Dockerfile").write_text(f'FROM {base}\nCOPY data.bin /srv/data.bin\nCMD ["ls"]\n')
    if config is not None:
        (job.workspace / ".soci-ci.yml").write_text(config)
    _own(job.workspace)


def _push_base(registry: Registry, docker_engine: str, base_image: str, name: str) -> str:
    """The test busybox base, copied into `registry` (a private base image there)."""
    target = f"{registry.host}/{name}:1"
    creds = (
        ["--dest-creds", f"{registry.username}:{registry.password}"] if registry.username else []
    )
    env = {**os.environ, "DOCKER_HOST": docker_engine}
    save = subprocess.run(
        ["docker", "save", base_image], env=env, capture_output=True, check=True
    ).stdout
    archive = Path(f"/tmp/soci-ci-base-{os.getpid()}.tar")
    archive.write_bytes(save)
    try:
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            *creds,
            f"docker-archive:{archive}",
            f"docker://{target}",
        )
    finally:
        archive.unlink()
    return target


def _inputs(job: RunnerJob, github: FakeGitHub, inputs: dict[str, str]) -> dict[str, str]:
    input_env, runs_env = action_inputs(inputs, TOKEN)
    return {**input_env, **job.github_env(github.url, EVENT, sha=MERGE_SHA), **runs_env}


def test_image_is_light_current_and_negotiates_with_engine_29(
    action_image: ActionImage, runner_docker: DockerCli, engine29: EngineGate
) -> None:
    """One container (each start copies the image on vfs): the tools stage adds at most
    ~150 MB; docker 26 + buildx, no engine; the pinned dependencies; the CLI through the mounted
    socket negotiates with Engine 29, which refuses Debian 12's CLI (API 1.41)."""
    from soci_ci import __version__

    added = action_image.tools_size - action_image.base_size
    assert added <= 150 * 1000 * 1000, f"the tools stage adds {added / 1e6:.0f} MB"
    old = subprocess.run(
        ["/usr/bin/docker", "version"],
        env={"PATH": os.environ["PATH"], "DOCKER_HOST": engine29.host},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "client version 1.41 is too old. Minimum supported API version is 1.44" in old.stderr
    names = ("boto3", "docker", "PyYAML", "jsonschema", "requests", "zlib-ng", "google-re2")
    script = (
        "docker --version; docker buildx version; "
        "docker version --format 'api {{.Client.APIVersion}}'; "
        "for b in dockerd containerd runc git; do command -v $b && echo HAS-$b; done; "
        "test -x /bin/busybox && echo busybox-static; "
        "env PATH=utter-nonsense /usr/local/bin/python3 /opt/soci-ci/entrypoint.py --version; "
        "soci-ci --version; "
        'python3 -c "from importlib import metadata; import boto3, docker, yaml, requests, '
        f"jsonschema, zlib_ng, re2; print('pins', *(n + '==' + metadata.version(n) for n in {names!r}))\""
    )
    probe = runner_docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{engine29.path}:/var/run/docker.sock",
        "--entrypoint",
        "/bin/sh",
        action_image.tag,
        "-c",
        script,
    )
    assert probe.returncode == 0, probe.stderr
    out = probe.stdout
    assert "Docker version 26." in out, out
    assert "github.com/docker/buildx 0." in out, out
    assert "api 1.45" in out and "1.45" in engine29.versions, out
    assert "HAS-" not in out and "busybox-static" in out, out
    # zlib-ng (a pinned dependency) is in use; the interpreter path is absolute.
    assert out.count(f"soci-ci {__version__} (inflate: zlib-ng 2.") == 2, out
    pins = runtime_pins()
    pinned = next(line for line in out.splitlines() if line.startswith("pins "))
    assert pinned.split()[1:] == [f"{n}=={pins[n]}" for n in names]


def test_pull_request_with_a_basic_auth_registry_and_a_private_base(
    action_image: ActionImage,
    runner_docker: DockerCli,
    engine29: EngineGate,
    docker_engine: str,
    base_image: str,
    registry_basic: Registry,
    github: FakeGitHub,
    job: RunnerJob,
) -> None:
    """Inputs registry/username/password only (no host `docker login`): the private base is
    pulled and the image pushed by buildx, indexed and verified; the comment is written; the
    same commit built twice pushes the same digest; nothing of soci-ci in the workspace."""
    base = _push_base(registry_basic, docker_engine, base_image, "private/busybox")
    _user_repo(job, base, config=CONFIG)
    inputs = {
        "repository": f"{registry_basic.host}/e2e/app",
        "context": "app",
        "tags": "{short_sha},pr-{pr}",
        "registry": registry_basic.host,
        "username": str(registry_basic.username),
        "password": str(registry_basic.password),
        "junit-file": "reports/soci-ci.xml",
    }
    env = _inputs(job, github, inputs)
    first = job.run(runner_docker, action_image.tag, engine29.path, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    logs = first.stdout + first.stderr
    assert str(registry_basic.password) not in logs.replace(
        f"::add-mask::{registry_basic.password}", ""
    )
    assert TOKEN not in logs.replace(f"::add-mask::{TOKEN}", "")
    assert "building with BuildKit (docker buildx)" in logs
    assert f"docker login for the build: {registry_basic.host}" in logs
    outputs = job.outputs()
    assert outputs["verdict"] == "neutral", outputs
    digest = outputs["image-digest"]
    assert outputs["image-ref"] == f"{registry_basic.host}/e2e/app@{digest}"
    assert outputs["soci-image-ref"].startswith(f"{registry_basic.host}/e2e/app@sha256:")
    assert len(github.comments[("octo-org/app", 42)]) == 1
    assert "e2e/app" in job.summary.read_text()
    # Which commit: the merge commit is built, the tags name the PR head.
    creds = f"{registry_basic.username}:{registry_basic.password}"
    config = json.loads(
        skopeo(
            "inspect",
            "--config",
            "--tls-verify=false",
            "--creds",
            creds,
            f"docker://{registry_basic.host}/e2e/app:{HEAD_SHA[:7]}",
        )
    )
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == MERGE_SHA
    assert labels["dev.soci-ci.tag-commit"] == HEAD_SHA
    # Only what was asked is in the workspace, owned by the runner's user.
    assert sorted(p.name for p in job.workspace.iterdir()) == [".soci-ci.yml", "app", "reports"]
    assert job.root_owned() == []
    # The same commit again: the same image digest (no run data in the build context).
    job.output.write_text("")
    second = job.run(runner_docker, action_image.tag, engine29.path, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert job.outputs()["image-digest"] == digest
    assert len(github.comments[("octo-org/app", 42)]) == 1
    assert job.root_owned() == []


def test_token_auth_registry_through_the_inputs(
    action_image: ActionImage,
    runner_docker: DockerCli,
    engine29: EngineGate,
    base_image: str,
    token_registry: tuple[Registry, TokenServer],
    github: FakeGitHub,
    job: RunnerJob,
) -> None:
    registry, server = token_registry
    _user_repo(job, base_image, config=None)
    env = _inputs(
        job,
        github,
        {
            "repository": f"{registry.host}/team/app",
            "context": "app",
            "registry": registry.host,
            "username": server.username,
            "password": server.password,
            "comment": "false",
        },
    )
    done = job.run(runner_docker, action_image.tag, engine29.path, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    outputs = job.outputs()
    assert outputs["verdict"] == "neutral"
    assert outputs["image-ref"].startswith(f"{registry.host}/team/app@sha256:")
    assert any(ok and "push" in scope for scope, ok in server.requests)


def test_a_login_made_on_the_host_does_not_reach_the_action(
    action_image: ActionImage,
    runner_docker: DockerCli,
    engine29: EngineGate,
    base_image: str,
    registry_basic: Registry,
    github: FakeGitHub,
    job: RunnerJob,
    tmp_path: Path,
) -> None:
    """`docker login` on the runner host writes the host's ~/.docker/config.json, which the
    runner does not mount: without the inputs the push is refused, with a clear error."""
    host_home = tmp_path / "host-home" / ".docker"
    host_home.mkdir(parents=True)
    (host_home / "config.json").write_text(
        json.dumps({"auths": {registry_basic.host: {"auth": "eA=="}}})
    )
    _user_repo(job, base_image, config=None)
    env = _inputs(
        job, github, {"repository": f"{registry_basic.host}/e2e/nologin", "context": "app"}
    )
    done = job.run(runner_docker, action_image.tag, engine29.path, env)
    assert done.returncode == 5, done.stderr[-3000:]
    outputs = job.outputs()
    assert outputs["verdict"] == "error"
    assert "docker buildx build failed" in outputs["reason"]
    assert "does not see a `docker login` made on the runner" in done.stderr


def test_an_uppercase_repository_ends_with_exit_2_and_says_why(
    action_image: ActionImage,
    runner_docker: DockerCli,
    engine29: EngineGate,
    base_image: str,
    github: FakeGitHub,
    job: RunnerJob,
) -> None:
    """(Space-separated tags: tests/unit/test_build_engine.py, the same check in-process.)"""
    message = "invalid repository '127.0.0.1:5000/Team/App': it must be lowercase"
    _user_repo(job, base_image, config=None)
    inputs = {"repository": "127.0.0.1:5000/Team/App", "context": "app", "comment": "false"}
    env = _inputs(job, github, inputs)
    done = job.run(runner_docker, action_image.tag, engine29.path, env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert message in done.stderr
    assert "docker build --help" not in done.stderr
    assert job.outputs()["verdict"] == "error"


def test_published_image_as_a_codebuild_custom_image(
    action_image: ActionImage,
    runner_docker: DockerCli,
    docker_engine: str,
    base_image: str,
    registry_basic: Registry,
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    """examples/codebuild/buildspec-image.yml's phases in the action image (as CodeBuild runs a
    custom image: a shell in the container, the source directory as working directory): an
    image already pushed is indexed and verified, the JUnit report written, the PR commented."""
    import yaml

    pushed = _push_base(registry_basic, docker_engine, base_image, "codebuild/pushed")
    spec = yaml.safe_load((ROOT / "examples" / "codebuild" / "buildspec-image.yml").read_text())
    src = tmp_path / "src"
    src.mkdir()
    (src / ".soci-ci.yml").write_text("version: 1\nsoci:\n  min_layer_size: 1\n")
    # GitHub knows PR 42 as a same-repository one, and its base branch has the same config.
    github.pulls[("octo-org/app", 42)] = EVENT["pull_request"]
    base_sha = EVENT["pull_request"]["base"]["sha"]
    github.files[("octo-org/app", base_sha, ".soci-ci.yml")] = (src / ".soci-ci.yml").read_bytes()
    env = {
        **{k: str(v) for k, v in spec["env"]["variables"].items()},
        "SOCI_CI_IMAGE": pushed,
        "SOCI_CI_REGISTRY_HOST": registry_basic.host,
        "SOCI_CI_REGISTRY_USERNAME": str(registry_basic.username),
        "SOCI_CI_REGISTRY_PASSWORD": str(registry_basic.password),
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github.url,
        "CODEBUILD_BUILD_ID": "app-soci-ci:1a2b3c",
        "CODEBUILD_SRC_DIR": "/codebuild/output/src1/src",
        "CODEBUILD_WEBHOOK_TRIGGER": "pr/42",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": HEAD_SHA,
        "CODEBUILD_SOURCE_REPO_URL": "https://github.com/octo-org/app.git",
    }
    for phase, body in spec["phases"].items():
        for command in body["commands"]:
            argv = ["run", "--rm", "--network", "host", "-w", env["CODEBUILD_SRC_DIR"]]
            argv += ["-v", f"{src}:{env['CODEBUILD_SRC_DIR']}"]
            for key in env:
                argv += ["-e", key]
            argv += ["--entrypoint", "/bin/sh", action_image.tag, "-c", command]
            done = runner_docker(*argv, env={**runner_docker.env(), **env})
            assert done.returncode == 0, f"{phase}: {command}\n{done.stderr[-3000:]}"
            assert TOKEN not in done.stdout + done.stderr
    junit = (src / "reports" / "soci-ci-junit.xml").read_text()
    assert 'name="index" time=' in junit and "<failure" not in junit
    body = github.comments[("octo-org/app", 42)][0]["body"]
    assert "codebuild/pushed" in body

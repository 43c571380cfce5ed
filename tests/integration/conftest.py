"""Integration fixtures: moto's server for the AWS plumbing, a fault proxy for registries,
hostile HTTP servers (`serve`) and a time limit for the tests that talk to them, the
startup images and a second (overlay2) engine, and the action image."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from soci_ci.cli import main
from tests.servers.dockerd import Dockerd
from tests.servers.engine_gate import EngineGate
from tests.servers.fault_proxy import FaultProxy
from tests.servers.hostile_http import ServerPool
from tests.servers.moto import Moto, MotoProcess, external_endpoint
from tests.servers.registry import Registry
from tests.support.runner import LABEL, ROOT, DockerCli, runner_build, trixie_tools
from tests.support.startup_images import (
    APP_SPAN,
    LOCAL,
    app_context,
    build,
    docker,
    import_helper,
)
from tests.support.time_limit import time_limit

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    """A moto server (``.endpoint``) with fake credentials in the environment, no profile."""
    saved = {k: os.environ.get(k) for k in (*_AWS_ENV, "AWS_PROFILE", "AWS_REGION")}
    os.environ.update(_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_REGION", None)
    endpoint = external_endpoint()
    process = None
    try:
        if endpoint is not None:
            yield Moto(endpoint=endpoint.rstrip("/"))
        else:
            process = MotoProcess()
            yield process.start()
    finally:
        if process is not None:
            process.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def serve() -> Iterator[ServerPool]:
    """Start hostile HTTP servers with `serve(handler, bind=..., tls_dir=...)`; all are
    stopped after the test."""
    pool = ServerPool()
    yield pool
    pool.stop_all()


@pytest.fixture
def one_minute() -> Iterator[None]:
    """Fails a test that runs over a minute (a client hanging on a hostile server)."""
    with time_limit(60):
        yield


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A pass-through (until told otherwise) proxy in front of the session registry."""
    fp = FaultProxy(int(registry.host.split(":")[1]))
    fp.start()
    yield fp
    fp.stop()


# -- startup: the images with known startup reads, a second engine --------------------------
# Module scope: each test module that asks gets its own, as when each module defined them.
@pytest.fixture(scope="module")
def app_image(
    docker_engine: str, base_image: str, registry: Registry, tmp_path_factory: Any
) -> str:
    """The app image (tests/support/startup_images.py), pushed and indexed (`APP_SPAN`)."""
    ctx = app_context(tmp_path_factory.mktemp("startup"), base_image)
    ref = f"{registry.host}/startup/app:1"
    build(docker_engine, ctx, ref)
    docker(docker_engine, "push", ref)
    assert main(["index", ref, "--span-size", str(APP_SPAN)]) == 0
    return ref


@pytest.fixture(scope="module")
def local_image(docker_engine: str, base_image: str, tmp_path_factory: Any) -> str:
    """The same app image built in the test engine only (never pushed)."""
    build(docker_engine, app_context(tmp_path_factory.mktemp("local"), base_image), LOCAL)
    return LOCAL


@pytest.fixture(scope="module")
def helper_image(docker_engine: str) -> str:
    return import_helper(docker_engine, "soci-ci-test/recorder:1", ROOT / "soci_ci")


@pytest.fixture(scope="module")
def overlay2_engine() -> Iterator[str]:
    """A second dockerd with the overlay2 driver (what CI runners and CodeBuild use)."""
    engine = Dockerd(storage_driver="overlay2")
    try:
        yield engine.start()
    finally:
        engine.stop()


# -- the production path: the action image, Debian 13's docker CLI, an Engine 29 gate -------
TRIXIE_BASE = "soci-ci-test/trixie-python:base"
TOOLS_IMAGE = "soci-ci-test/trixie-python:tools"


@pytest.fixture(scope="session")
def engine29(docker_engine: str) -> Iterator[EngineGate]:
    """The test dockerd behind a proxy that refuses API < 1.44 like Docker Engine 29.0-29.2."""
    gate = EngineGate(docker_engine).start()
    yield gate
    gate.stop()


@pytest.fixture(scope="session")
def runner_docker(engine29: EngineGate) -> DockerCli:
    """The runner host's docker CLI (Debian 13's 26.x + buildx), talking to Engine 29."""
    tools = trixie_tools()
    return DockerCli(
        binary=tools / "usr" / "bin" / "docker",
        plugins=tools / "usr" / "libexec" / "docker" / "cli-plugins",
        host=engine29.host,
    )


@dataclass(frozen=True)
class ActionImage:
    tag: str
    base_size: int
    tools_size: int
    build_log: str


@pytest.fixture(scope="session")
def action_image(runner_docker: DockerCli) -> Iterator[ActionImage]:
    """The action image, built once per session: the Dockerfile's tools stage (apt-get
    docker-cli docker-buildx, pip install -r requirements.lock: needs Debian and PyPI) on a
    trixie root filesystem made by mmdebstrap, then the runner's exact `docker build`."""
    base_tar = ROOT / ".tools" / "trixie-python.tar"
    with base_tar.open("rb") as tar:
        done = subprocess.run(
            [str(runner_docker.binary), "import", "-", TRIXIE_BASE],
            stdin=tar,
            env=runner_docker.env(),
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    tools = runner_docker(
        "buildx",
        "build",
        "--network",
        "host",
        "--target",
        "tools-install",
        "--build-arg",
        f"BASE_IMAGE={TRIXIE_BASE}",
        "-t",
        TOOLS_IMAGE,
        "--load",
        str(ROOT),
    )
    assert tools.returncode == 0, tools.stderr[-4000:]
    sizes = runner_docker("image", "inspect", "-f", "{{.Size}}", TRIXIE_BASE, TOOLS_IMAGE)
    base_size, tools_size = (int(s) for s in sizes.stdout.split())
    tag = f"{LABEL}:{uuid.uuid4().hex}"
    log = runner_build(runner_docker, ROOT, tag, base=TOOLS_IMAGE)
    yield ActionImage(tag=tag, base_size=base_size, tools_size=tools_size, build_log=log)
    runner_docker("rmi", "-f", tag)

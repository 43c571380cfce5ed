"""Shared fixtures: the vectors beside the repository, and real local servers on 127.0.0.1.

Servers are started by the fixtures themselves (Debian's docker-registry, a token service)
and stopped by PID at the end. A missing binary skips locally but fails in CI (CI=true):
integration tests must never be skipped silently there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from soci_ci.soci.zlib_binding import Inflater, load_inflater
from tests.servers.dockerd import Dockerd, import_base_image
from tests.servers.registry import Registry, RegistryProcess
from tests.servers.token_server import TokenServer
from tests.support.tools import require
from tests.support.vectors import vectors_dir


@pytest.fixture(params=["zlib-ng", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Inflater:
    """Each inflate implementation in turn (both must give the same bytes): the tests hand it
    to the format code; commands run through `main` or a subprocess get it the way users
    choose it, from SOCI_CI_INFLATE."""
    backend: str = request.param
    chosen = load_inflater(backend)
    assert chosen.name.startswith(backend + " "), chosen.name
    monkeypatch.setenv("SOCI_CI_INFLATE", backend)
    return chosen


@pytest.fixture(scope="session")
def vectors() -> Path:
    return vectors_dir()


def _registry(**options: object) -> Iterator[Registry]:
    require("docker-registry")
    proc = RegistryProcess(**options)  # type: ignore[arg-type]
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    yield from _registry()


@pytest.fixture(scope="session")
def registry_basic() -> Iterator[Registry]:
    require("htpasswd")
    yield from _registry(basic=True)


@pytest.fixture(scope="session")
def registry_tls() -> Iterator[Registry]:
    require("openssl")
    yield from _registry(tls=True)


@pytest.fixture(scope="session")
def token_registry() -> Iterator[tuple[Registry, TokenServer]]:
    require("openssl")
    directory = Path(tempfile.mkdtemp(prefix="soci-ci-token-"))
    server = TokenServer(directory, username="pusher", password="t0ken-Pass")
    server.start()
    try:
        for info in _registry(token=server.registry_config()):
            yield info, server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., Registry]]:
    started: list[RegistryProcess] = []

    def make(**options: object) -> Registry:
        require("docker-registry")
        proc = RegistryProcess(**options)  # type: ignore[arg-type]
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """DOCKER_HOST of a real engine: SOCI_CI_DOCKER_HOST if given, else a private dockerd."""
    given = os.environ.get("SOCI_CI_DOCKER_HOST")
    if given:
        yield given
        return
    require("dockerd")
    require("docker")
    engine = Dockerd()
    try:
        yield engine.start()
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    require("busybox")
    return import_base_image(docker_engine)


def _skips_fail() -> bool:
    """Under CI (CI=true, as .ci/run and scripts/test set it) a skipped test fails the run."""
    return os.environ.get("CI") == "true"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped and _skips_fail():
        terminalreporter.write_line(
            f"FAILED: {len(skipped)} test(s) skipped under CI=true; every test must run "
            "(scripts/test installs what they need)",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and _skips_fail() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

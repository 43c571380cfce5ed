"""The one environment module: typed values, units, and errors that name the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soci_ci.cli.environment import docker_tools, parse_seconds, read_environment
from soci_ci.errors import ExitCode, UsageError
from soci_ci.soci.zlib_binding import InflateBackend


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("1.5s", 1.5), ("500ms", 0.5), ("2m", 120.0), (" 1h ", 3600.0)],
)
def test_durations_accept_units(text: str, seconds: float) -> None:
    assert parse_seconds("SOCI_CI_REGISTRY_TIMEOUT", text) == seconds


@pytest.mark.parametrize("text", ["abc", "30 parsecs", "-1", "0", "0s", "1e9", "inf", "nan", "2h"])
def test_bad_durations_exit_2_naming_the_variable(text: str) -> None:
    with pytest.raises(UsageError, match=r"^SOCI_CI_REGISTRY_TIMEOUT=") as caught:
        read_environment({"SOCI_CI_REGISTRY_TIMEOUT": text})
    assert caught.value.exit_code is ExitCode.USAGE


def test_values_and_defaults() -> None:
    env = read_environment(
        {
            "SOCI_CI_REGISTRY_USERNAME": " robot ",
            "SOCI_CI_REGISTRY_PASSWORD": "pw",
            "SOCI_CI_RETRY_BASE_SECONDS": "250ms",
            "SOCI_CI_INFLATE": "zlib",
            "GITHUB_ACTIONS": "true",
            "RUNNER_DEBUG": "1",
        }
    )
    assert (env.registry_username, env.registry_password) == ("robot", "pw")
    assert (env.registry_timeout, env.retry_base, env.inflate) == (60.0, 0.25, "zlib")
    assert env.github_actions and env.debug
    assert "pw" not in repr(env)
    assert env.inflate is InflateBackend.ZLIB
    assert read_environment({"SOCI_CI_INFLATE": "auto"}).inflate is InflateBackend.AUTO
    assert read_environment({}).inflate is InflateBackend.AUTO
    assert read_environment({"SOCI_CI_RETRY_BASE_SECONDS": "0"}).retry_base == 0.0  # no waits
    with pytest.raises(UsageError, match="SOCI_CI_INFLATE='fastest'"):
        read_environment({"SOCI_CI_INFLATE": "fastest"})


def test_docker_values_and_the_search_path() -> None:
    env = read_environment(
        {
            "DOCKER_CONFIG": "/cfg",
            "SOCI_CI_DOCKER_CLI": " /opt/docker ",
            "SOCI_CI_BUILDKIT_IMAGE": "mirror/buildkit:1",
            "PATH": "/opt/bin",
        }
    )
    assert env.docker_config_dir == Path("/cfg")
    assert (env.docker_cli, env.buildkit_image, env.search_path) == (
        "/opt/docker",
        "mirror/buildkit:1",
        "/opt/bin",
    )
    bare = read_environment({"HOME": "/home/u"})
    assert bare.docker_config_dir == Path("/home/u/.docker")
    assert (bare.docker_cli, bare.buildkit_image, bare.search_path) == (None, None, "/usr/bin:/bin")


def test_the_docker_processes_get_the_environment_and_the_secrets_not_this_process() -> None:
    env = read_environment({"PATH": "/opt/bin", "DOCKER_CONFIG": "/cfg"})
    tools = docker_tools(env, {"SOCI_CI_BUILD_SECRET_0": "s3cret"})
    assert dict(tools.environ) == {
        "PATH": "/opt/bin",
        "DOCKER_CONFIG": "/cfg",
        "SOCI_CI_BUILD_SECRET_0": "s3cret",
    }
    assert tools.config_dir == Path("/cfg") and "s3cret" not in repr(tools)
    assert "SOCI_CI_BUILD_SECRET_0" not in os.environ


def test_only_the_environment_module_reads_os_environ() -> None:
    """Every other module gets the values or the mapping handed in (grep the package)."""
    import soci_ci

    root = Path(soci_ci.__file__).parent
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
        or "os.getenv" in path.read_text(encoding="utf-8")
    )
    assert readers == ["cli/environment.py"]

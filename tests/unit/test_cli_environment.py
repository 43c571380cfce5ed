"""The one environment module: typed values, units, and errors that name the variable."""

from __future__ import annotations

import pytest

from soci_ci.cli.environment import parse_seconds, read_environment
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


# Not yet moved: Docker's own DOCKER_CONFIG (read where the Docker config is found), the
# docker CLI name plus the child environment of `docker build` (the Docker engine edge), and
# DOCKER_CONFIG set for the Docker SDK during a build, the PATH handed to `git` when the base branch's config is read.
NOT_YET = [
    "app/build.py",
    "build/docker_login.py",
    "build/engine.py",
    "ci/base_config.py",
    "registry/docker_config.py",
]


def test_only_the_environment_module_reads_os_environ() -> None:
    """Every other module gets the mapping handed in (grep the package)."""
    from pathlib import Path

    import soci_ci

    root = Path(soci_ci.__file__).parent
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
        or "os.getenv" in path.read_text(encoding="utf-8")
    )
    assert readers == sorted(["cli/environment.py", *NOT_YET])

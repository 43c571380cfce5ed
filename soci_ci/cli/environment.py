"""The one place that reads the process environment, parsed into typed values.

`read_environment` takes the mapping (``os.environ`` in production, a dict in tests) and
returns an `Environment`; a bad value is a `UsageError` (exit 2) that names the variable.
The modules that interpret CI variables (``soci_ci.ci.context``, ``soci_ci.ci.secrets``,
``soci_ci.config.resolve``) get the same mapping as an argument and never read
``os.environ`` themselves. AWS endpoints are botocore's own (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``): boto3 reads those. The Docker engine edge
(``soci_ci.build``) and the Docker config (``soci_ci.registry.docker_config``) get the values
they need (``DOCKER_CONFIG``, ``SOCI_CI_DOCKER_CLI``, ``SOCI_CI_BUILDKIT_IMAGE``) and the
environment of the processes they start (``raw``, plus the build secrets) as arguments.

Durations accept a unit: ``30``, ``30s``, ``1.5s``, ``500ms``, ``2m``, ``1h``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from soci_ci.build.docker_tools import DockerTools
from soci_ci.errors import UsageError
from soci_ci.soci.zlib_binding import InflateBackend

REGISTRY_USERNAME = "SOCI_CI_REGISTRY_USERNAME"
REGISTRY_PASSWORD = "SOCI_CI_REGISTRY_PASSWORD"  # noqa: S105 - a variable name
REGISTRY_HOST = "SOCI_CI_REGISTRY_HOST"  # the one host the explicit login goes to
REGISTRY_TIMEOUT = "SOCI_CI_REGISTRY_TIMEOUT"
RETRY_BASE = "SOCI_CI_RETRY_BASE_SECONDS"
INFLATE = "SOCI_CI_INFLATE"  # auto (default) | zlib-ng | zlib
RUNNER_DEBUG = "RUNNER_DEBUG"
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITHUB_EVENT_PATH = "GITHUB_EVENT_PATH"
DOCKER_CONFIG = "DOCKER_CONFIG"  # the Docker client's config directory (else ~/.docker)
DOCKER_CLI = "SOCI_CI_DOCKER_CLI"  # the docker binary (name or path); default `docker`
BUILDKIT_IMAGE = "SOCI_CI_BUILDKIT_IMAGE"  # the image of a docker-container builder
SEARCH_PATH = "PATH"
DEFAULT_SEARCH_PATH = "/usr/bin:/bin"

DEFAULT_REGISTRY_TIMEOUT = 60.0
DEFAULT_RETRY_BASE = 0.5
MAX_SECONDS = 3600.0
INFLATE_BACKENDS = tuple(InflateBackend)

_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>ms|s|m|h)?")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """What soci-ci takes from the environment, typed; ``raw`` is handed to the CI parsers."""

    registry_username: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    registry_host: str | None = None  # where username/password go; None: the image's host
    registry_timeout: float = DEFAULT_REGISTRY_TIMEOUT
    retry_base: float = DEFAULT_RETRY_BASE
    inflate: InflateBackend = InflateBackend.AUTO
    aws_region: str | None = None  # AWS_REGION (boto3 itself reads only AWS_DEFAULT_REGION)
    debug: bool = False
    github_actions: bool = False
    event_path: str | None = None
    docker_config_dir: Path = field(default_factory=lambda: Path.home() / ".docker")
    docker_cli: str | None = None  # None: `docker` on the search path
    buildkit_image: str | None = None  # None: buildx's default (moby/buildkit)
    search_path: str = DEFAULT_SEARCH_PATH  # PATH, for the programs soci-ci runs (git)
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)


def parse_seconds(
    variable: str, text: str, *, maximum: float = MAX_SECONDS, zero: bool = False
) -> float:
    """A positive duration in seconds (``zero``: 0 too): a number with an optional unit
    (ms, s, m, h)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(
            f"{variable}={text!r} is not a duration",
            hint=f"use seconds, optionally with a unit: {variable}=30 or 30s, 500ms, 2m",
        )
    seconds = float(match["number"]) * _UNIT[match["unit"]]
    low_ok = seconds >= 0 if zero else seconds > 0
    if not (math.isfinite(seconds) and low_ok and seconds <= maximum):
        least = "0" if zero else "more than 0"
        raise UsageError(
            f"{variable}={text!r} is out of range",
            hint=f"use {least} and at most {maximum:g} seconds",
        )
    return seconds


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    """The Docker client's config directory: ``DOCKER_CONFIG``, else ``$HOME/.docker``."""
    given = _text(environ, DOCKER_CONFIG)
    if given is not None:
        return Path(given)
    home = _text(environ, "HOME")
    return (Path(home) if home else Path.home()) / ".docker"


def read_environment(environ: Mapping[str, str]) -> Environment:
    """Parse every variable soci-ci itself reads (see the module docstring)."""
    timeout = _text(environ, REGISTRY_TIMEOUT)
    retry = _text(environ, RETRY_BASE)
    inflate = _text(environ, INFLATE)
    if inflate is not None and inflate not in INFLATE_BACKENDS:
        raise UsageError(
            f"{INFLATE}={inflate!r}: expected one of {', '.join(INFLATE_BACKENDS)}",
            hint=f"unset {INFLATE} to pick the fastest library available",
        )
    host = _text(environ, REGISTRY_HOST)
    if host is not None:
        from soci_ci.registry.reference import parse_registry_host  # noqa: PLC0415

        host = parse_registry_host(host, what=REGISTRY_HOST)
    password = environ.get(REGISTRY_PASSWORD) or None
    from soci_ci.redaction import remember_secret  # noqa: PLC0415

    remember_secret(password)
    return Environment(
        registry_host=host,
        registry_username=_text(environ, REGISTRY_USERNAME),
        registry_password=password,
        registry_timeout=(
            DEFAULT_REGISTRY_TIMEOUT
            if timeout is None
            else parse_seconds(REGISTRY_TIMEOUT, timeout)
        ),
        retry_base=(
            DEFAULT_RETRY_BASE
            if retry is None
            else parse_seconds(RETRY_BASE, retry, maximum=60, zero=True)
        ),
        inflate=InflateBackend(inflate or InflateBackend.AUTO),
        aws_region=_text(environ, "AWS_REGION"),
        debug=environ.get(RUNNER_DEBUG) == "1",
        github_actions=environ.get(GITHUB_ACTIONS) == "true",
        event_path=_text(environ, GITHUB_EVENT_PATH),
        docker_config_dir=docker_config_dir(environ),
        docker_cli=_text(environ, DOCKER_CLI),
        buildkit_image=_text(environ, BUILDKIT_IMAGE),
        search_path=environ.get(SEARCH_PATH) or DEFAULT_SEARCH_PATH,
        raw=MappingProxyType(dict(environ)),
    )


def ci_environment(environ: Mapping[str, str]) -> Environment:
    """Only what cannot be malformed (CI detection and the raw mapping): what a run needs to
    report a bad variable of the environment itself."""
    return Environment(
        github_actions=environ.get(GITHUB_ACTIONS) == "true",
        debug=environ.get(RUNNER_DEBUG) == "1",
        event_path=_text(environ, GITHUB_EVENT_PATH),
        docker_config_dir=docker_config_dir(environ),
        docker_cli=_text(environ, DOCKER_CLI),
        buildkit_image=_text(environ, BUILDKIT_IMAGE),
        search_path=environ.get(SEARCH_PATH) or DEFAULT_SEARCH_PATH,
        raw=MappingProxyType(dict(environ)),
    )


def docker_tools(env: Environment, extra: Mapping[str, str] | None = None) -> DockerTools:
    """What the build hands the Docker CLI and SDK: their processes get this environment plus
    ``extra`` (the build secrets buildx reads by name), never this process's."""
    return DockerTools(
        environ=MappingProxyType({**env.raw, **(extra or {})}),
        config_dir=env.docker_config_dir,
        cli_name=env.docker_cli,
        buildkit_image=env.buildkit_image,
    )


def process_environment() -> Mapping[str, str]:
    """The process environment: the only read of ``os.environ`` in soci-ci."""
    return os.environ

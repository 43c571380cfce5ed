"""Registry logins for the Docker CLI and buildx: a temporary `DOCKER_CONFIG`.

A container action never sees the host's `docker login` (the runner mounts no `~/.docker`),
so soci-ci hands the CLI the credentials it already has: the ECR token from boto3 for ECR
hosts (the push target and ECR base images in `FROM`), and the `registry`/`username`/
`password` inputs (read by `soci_ci.cli.registry_args`, which names their one host) for that
host only. They go into a fresh directory under the system temp dir (never the workspace,
mode 0700, `config.json` 0600) that also keeps the user's own config entries (`auths`,
`credHelpers`) and plugin directories; it is deleted when the build ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from soci_ci.build.docker_tools import DockerTools
from soci_ci.registry.auth import Credentials
from soci_ci.registry.ecr import parse_ecr_host
from soci_ci.registry.reference import DOCKER_HUB, parse_reference

log = logging.getLogger(__name__)

HUB_KEY = "https://index.docker.io/v1/"
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<image>\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Login:
    host: str
    credentials: Credentials


def config_key(host: str) -> str:
    """The `auths` key the Docker CLI looks up for a registry host."""
    if host in (DOCKER_HUB, "docker.io", "index.docker.io"):
        return HUB_KEY
    return host


def base_image_hosts(dockerfile: str) -> tuple[str, ...]:
    """Registry hosts of the `FROM` images (stage names and `${ARG}` images are skipped)."""
    hosts: list[str] = []
    for match in _FROM.finditer(dockerfile):
        image = match.group("image")
        if "$" in image or image.lower() == "scratch":
            continue
        try:
            host = parse_reference(image).registry
        except ValueError:
            continue
        if "/" not in image and ":" not in image and "@" not in image:
            continue  # a bare word: most likely an earlier stage's name
        if host not in hosts:
            hosts.append(host)
    return tuple(hosts)


def collect_logins(
    *,
    push_hosts: Iterable[str],
    base_hosts: Iterable[str],
    explicit: Login | None,
    ecr: Callable[[str], Credentials | None],
) -> tuple[Login, ...]:
    """Which host gets which credentials: the explicit login for its host, ECR tokens for
    every other ECR host involved. Hosts with neither keep the user's own config."""
    logins: dict[str, Login] = {}
    if explicit is not None:
        logins[explicit.host] = explicit
    for host in (*push_hosts, *base_hosts):
        if host in logins or parse_ecr_host(host) is None:
            continue
        creds = ecr(host)
        if creds is not None:
            logins[host] = Login(host=host, credentials=creds)
    return tuple(logins.values())


def _read_user_config(config_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def merged_config(
    user: Mapping[str, Any], logins: Iterable[Login], plugin_dirs: Iterable[str]
) -> dict[str, Any]:
    """The user's `auths`/`credHelpers` with our logins over them (a credential store that
    would shadow our entries is dropped), plus the user's plugin directories."""
    auths = dict(user.get("auths") or {}) if isinstance(user.get("auths"), dict) else {}
    helpers = (
        dict(user.get("credHelpers") or {}) if isinstance(user.get("credHelpers"), dict) else {}
    )
    ours = list(logins)
    for login in ours:
        key = config_key(login.host)
        secret = f"{login.credentials.username}:{login.credentials.password}"
        auths[key] = {"auth": base64.b64encode(secret.encode()).decode()}
        helpers.pop(key, None)
        helpers.pop(login.host, None)
    config: dict[str, Any] = {"auths": auths}
    if helpers:
        config["credHelpers"] = helpers
    store = user.get("credsStore")
    if store and not ours:
        config["credsStore"] = store
    extra = [d for d in plugin_dirs if d]
    if extra:
        config["cliPluginsExtraDirs"] = extra
    return config


@contextlib.contextmanager
def docker_env(logins: Iterable[Login], tools: DockerTools) -> Iterator[DockerTools]:
    """`tools` with `logins` in a temporary DOCKER_CONFIG (in the environment of the docker
    processes and as their config directory); the user's config is only read."""
    wanted = tuple(logins)
    if not wanted:
        yield tools
        return
    env = dict(tools.environ)
    user_dir = tools.config_dir
    user = _read_user_config(user_dir)
    plugin_dirs = [str(user_dir / "cli-plugins")]
    extra = user.get("cliPluginsExtraDirs")
    if isinstance(extra, list):
        plugin_dirs += [str(d) for d in extra if isinstance(d, str)]
    tmp = Path(tempfile.mkdtemp(prefix="soci-ci-docker-"))
    try:
        tmp.chmod(0o700)
        config = tmp / "config.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(merged_config(user, wanted, plugin_dirs), handle)
        if (user_dir / "buildx").is_dir() and "BUILDX_CONFIG" not in env:
            env["BUILDX_CONFIG"] = str(user_dir / "buildx")  # keep the user's builders
        env["DOCKER_CONFIG"] = str(tmp)
        log.info(
            "docker login for the build: %s",
            ", ".join(f"{w.host} ({w.credentials.source})" for w in wanted),
        )
        yield replace(tools, environ=env, config_dir=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

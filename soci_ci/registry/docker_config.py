"""Credentials from the Docker client config: `config.json` in the directory the environment
module names (`DOCKER_CONFIG`, else `~/.docker`); `auths` entries (base64 `user:password`),
`credHelpers` per host and `credsStore` through `docker-credential-<name> get`."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from soci_ci.errors import RegistryError
from soci_ci.registry.auth import Credentials

# Docker Hub is stored under its legacy index URL.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")
HelperRunner = Callable[[str, str], str | None]  # helper name, host -> stdout or None


def config_keys(host: str) -> tuple[str, ...]:
    """The `auths` keys under which Docker may have stored this host's login."""
    keys: tuple[str, ...] = (
        host,
        f"https://{host}",
        f"http://{host}",
        f"https://{host}/v1/",
        f"https://{host}/v2/",
    )
    if host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys = _HUB_KEYS + keys
    return keys


def credentials_from_config(
    data: Mapping[str, Any], host: str, source: str, run_helper: HelperRunner
) -> Credentials | None:
    """Pure lookup in a parsed config; helpers are run through `run_helper`."""
    helpers = data.get("credHelpers") or {}
    helper = next((helpers[k] for k in config_keys(host) if k in helpers), None)
    helper = helper or data.get("credsStore")
    if helper:
        found = parse_helper_output(run_helper(str(helper), host), str(helper), host=host)
        if found is not None:
            return found
    auths = data.get("auths") or {}
    for key in config_keys(host):
        entry = auths.get(key)
        if isinstance(entry, dict):
            found = parse_auth_entry(entry, f"{source} ({key})")
            if found is not None:
                return found
    return None


def parse_auth_entry(entry: Mapping[str, Any], source: str) -> Credentials | None:
    if entry.get("auth"):
        try:
            text = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(
                f"malformed 'auth' entry in {source}", hint="run `docker login` again"
            ) from None
        user, sep, password = text.partition(":")
        if not sep:
            raise RegistryError(
                f"malformed 'auth' entry in {source} (no ':')", hint="run `docker login` again"
            )
        return Credentials(username=user, password=password, source=source)
    if entry.get("username"):
        return Credentials(
            username=str(entry["username"]), password=str(entry.get("password", "")), source=source
        )
    if entry.get("identitytoken"):
        return Credentials(username="<token>", password=str(entry["identitytoken"]), source=source)
    return None


def parse_helper_output(
    stdout: str | None, helper: str, *, host: str | None = None
) -> Credentials | None:
    """A helper's answer; None when it has nothing, or names another server than `host`."""
    if not stdout:
        return None
    try:
        data = json.loads(stdout)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not data.get("Secret"):
        return None
    server = str(data.get("ServerURL") or "")
    if host is not None and server and server not in config_keys(host):
        return None  # credentials stored for another server: never sent to this one
    return Credentials(
        username=str(data.get("Username", "")),
        password=str(data["Secret"]),
        source=f"docker-credential-{helper}",
    )


def run_credential_helper(helper: str, host: str) -> str | None:
    """`docker-credential-<helper> get` with the host on stdin; None when it has nothing."""
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


class DockerConfig:
    """The Docker config file (`config.json` of a Docker config directory), read once."""

    def __init__(self, path: Path, run_helper: HelperRunner | None = None) -> None:
        self.path = path
        self._run_helper = run_helper or run_credential_helper
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            try:
                loaded = json.loads(self.path.read_text())
            except FileNotFoundError:
                loaded = {}
            except (OSError, json.JSONDecodeError) as exc:
                raise RegistryError(
                    f"cannot read Docker config {self.path}: {type(exc).__name__}",
                    hint="fix or remove the file, or set DOCKER_CONFIG to another directory",
                ) from None
            self._data = loaded if isinstance(loaded, dict) else {}
        return self._data

    def get(self, host: str) -> Credentials | None:
        return credentials_from_config(self._load(), host, str(self.path), self._run_helper)

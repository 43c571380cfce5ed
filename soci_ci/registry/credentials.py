"""Where registry credentials come from: explicit, Docker config (+ helpers), Amazon ECR."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from soci_ci.errors import AwsError, RegistryError

_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
ECR_REFRESH_MARGIN = 30 * 60  # refresh ECR tokens well before their 12 h expiry


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages (never the secret itself)


class CredentialSource(Protocol):
    def get(self, host: str) -> Credentials | None: ...


def ecr_region(host: str) -> str | None:
    match = _ECR_HOST.match(host)
    return match.group("region") if match else None


class DockerConfig:
    """`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: auths, credHelpers, credsStore."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            base = os.environ.get("DOCKER_CONFIG")
            path = Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"
        self.path = path
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            try:
                loaded = json.loads(self.path.read_text())
            except FileNotFoundError:
                loaded = {}
            except (OSError, json.JSONDecodeError) as exc:
                raise RegistryError(f"cannot read Docker config {self.path}: {exc}") from None
            self._data = loaded if isinstance(loaded, dict) else {}
        return self._data

    def get(self, host: str) -> Credentials | None:
        data = self._load()
        helper = (data.get("credHelpers") or {}).get(host) or data.get("credsStore")
        if helper:
            found = _from_helper(str(helper), host)
            if found is not None:
                return found
        auths = data.get("auths") or {}
        for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/"):
            entry = auths.get(key)
            if isinstance(entry, dict):
                return _from_auth_entry(entry, f"{self.path} ({key})")
        return None


def _from_auth_entry(entry: dict[str, Any], source: str) -> Credentials | None:
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(f"malformed 'auth' entry in {source}") from None
        return Credentials(username=user, password=password, source=source)
    if entry.get("username"):
        return Credentials(
            username=entry["username"], password=entry.get("password", ""), source=source
        )
    if entry.get("identitytoken"):
        return Credentials(username="<token>", password=entry["identitytoken"], source=source)
    return None


def _from_helper(helper: str, host: str) -> Credentials | None:
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
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    return Credentials(
        username=data.get("Username", ""),
        password=data.get("Secret", ""),
        source=f"docker-credential-{helper}",
    )


class EcrTokens:
    """Amazon ECR credentials from `ecr:GetAuthorizationToken`, cached until near expiry."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url or os.environ.get("SOCI_CI_ECR_ENDPOINT")
        self._cache: dict[str, tuple[Credentials, float]] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> Credentials | None:
        region = ecr_region(host)
        if region is None:
            return None
        with self._lock:
            cached = self._cache.get(region)
            if cached and cached[1] - ECR_REFRESH_MARGIN > time.time():
                return cached[0]
            creds, expires = self._fetch(region)
            self._cache[region] = (creds, expires)
            return creds

    def _fetch(self, region: str) -> tuple[Credentials, float]:
        import boto3  # noqa: PLC0415 - boto3 is slow to import; only ECR users pay for it
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            client = boto3.client("ecr", region_name=region, endpoint_url=self.endpoint_url)
            data = client.get_authorization_token()["authorizationData"][0]
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(
                f"ECR GetAuthorizationToken failed in {region}: {exc}",
                hint="grant ecr:GetAuthorizationToken and configure AWS credentials",
            ) from None
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        stamp = expires.timestamp() if hasattr(expires, "timestamp") else time.time() + 12 * 3600
        return Credentials(username=user, password=password, source=f"Amazon ECR ({region})"), stamp


class ChainedCredentials:
    """Explicit credentials, then ECR for ECR hosts, then the Docker config."""

    def __init__(
        self,
        *,
        explicit: Credentials | None = None,
        docker: DockerConfig | None = None,
        ecr: EcrTokens | None = None,
    ) -> None:
        self.explicit = explicit
        self.docker = docker or DockerConfig()
        self.ecr = ecr or EcrTokens()

    def get(self, host: str) -> Credentials | None:
        if self.explicit is not None:
            return self.explicit
        if ecr_region(host):
            return self.ecr.get(host)
        return self.docker.get(host)

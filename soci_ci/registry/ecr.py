"""Amazon ECR: recognise its hosts and get registry credentials from
`ecr:GetAuthorizationToken` (boto3), cached and refreshed well before the 12 h expiry.

A token is asked for the account of the host (`registryIds`) in the host's region, and used
only for that host: when ECR names another registry (`proxyEndpoint`), it is not used."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soci_ci.errors import AwsError
from soci_ci.registry.auth import Credentials

_ECR_HOST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.(?:amazonaws\.com|amazonaws\.com\.cn)$"
)
REFRESH_MARGIN = 30 * 60  # seconds before expiry at which a cached token is replaced
TOKEN_LIFETIME = 12 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class EcrHost:
    account: str
    region: str
    fips: bool


def parse_ecr_host(host: str) -> EcrHost | None:
    match = _ECR_HOST.match(host.lower())
    if match is None:
        return None
    return EcrHost(
        account=match.group("account"), region=match.group("region"), fips=bool(match["fips"])
    )


def ecr_region(host: str) -> str | None:
    parsed = parse_ecr_host(host)
    return parsed.region if parsed else None


def decode_authorization_token(token: str, region: str) -> Credentials:
    try:
        user, sep, password = base64.b64decode(token).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        sep = ""
    if not sep:
        raise AwsError(f"ECR returned a malformed authorization token in {region}")
    return Credentials(username=user, password=password, source=f"Amazon ECR ({region})")


class EcrTokens:
    """ECR credentials per region. `endpoint_url` (or botocore's own ``AWS_ENDPOINT_URL_ECR``)
    points boto3 at another ECR API endpoint (moto's server in the tests, a VPC endpoint)."""

    def __init__(
        self, endpoint_url: str | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.endpoint_url = endpoint_url
        self._clock = clock
        self._cache: dict[str, tuple[Credentials, float]] = {}
        self._lock = threading.Lock()

    def get(self, host: str) -> Credentials | None:
        parsed = parse_ecr_host(host)
        if parsed is None:
            return None
        key = f"{parsed.region}/{parsed.account}"
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[1] - REFRESH_MARGIN > self._clock():
                return cached[0]
            creds, expires = self._fetch(parsed)
            self._cache[key] = (creds, expires)
            return creds

    def _fetch(self, host: EcrHost) -> tuple[Credentials, float]:
        import boto3  # noqa: PLC0415 - boto3 is slow to import; only ECR users pay for it
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            client = boto3.client(
                "ecr",
                region_name=host.region,
                endpoint_url=self.endpoint_url,
                config=Config(use_fips_endpoint=host.fips, retries={"mode": "standard"}),
            )
            answer = client.get_authorization_token(registryIds=[host.account])
            data = dict(answer["authorizationData"][0])
            token = str(data["authorizationToken"])
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(
                f"ECR GetAuthorizationToken failed in {host.region}: {type(exc).__name__}: "
                f"{_aws_message(exc)}",
                hint="grant ecr:GetAuthorizationToken and configure AWS credentials "
                "(AWS_PROFILE, AWS_ACCESS_KEY_ID, or an instance/task role)",
            ) from None
        except (KeyError, IndexError, TypeError, ValueError):
            raise AwsError(
                f"ECR GetAuthorizationToken in {host.region} answered without a token"
            ) from None
        endpoint = str(data.get("proxyEndpoint") or "")
        named = endpoint.removeprefix("https://").rstrip("/").lower()
        named_host = parse_ecr_host(named)
        names = (named_host.account, named_host.region) if named_host else None
        if endpoint and names != (host.account, host.region):
            raise AwsError(
                f"ECR GetAuthorizationToken for {host.account} in {host.region} answered for "
                f"another registry ({named[:100]}); its token is not used",
                hint="check AWS_ENDPOINT_URL_ECR and the image's registry host",
            )
        creds = decode_authorization_token(token, host.region)
        expires: Any = data.get("expiresAt")
        stamp = (
            expires.timestamp() if hasattr(expires, "timestamp") else self._clock() + TOKEN_LIFETIME
        )
        return creds, stamp


def _aws_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "error"))
    return str(exc).splitlines()[0][:200]

"""The Amazon ECR auth path against moto's server: GetAuthorizationToken → Basic auth to a registry.

moto has no ECR registry HTTP API, so the token moto issues (`AWS:123456789012-auth-token`)
is accepted by a local docker-registry whose htpasswd holds exactly that user and password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from soci_ci.errors import AwsError
from soci_ci.registry.auth import Credentials
from soci_ci.registry.client import RegistryClient
from soci_ci.registry.ecr import EcrHost, EcrTokens, ecr_region
from tests.servers.fault_proxy import FaultProxy
from tests.servers.ports import free_port, wait_until
from tests.servers.registry import RegistryProcess

pytestmark = pytest.mark.integration
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    given = os.environ.get("SOCI_CI_MOTO_ENDPOINT")
    if given:
        yield given
        return
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/moto-api/", timeout=1).ok, timeout=30, what="moto")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_ecr_hosts_are_recognised() -> None:
    assert ecr_region(ECR_HOST) == "us-east-1"
    assert ecr_region("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com") == "us-gov-west-1"
    assert ecr_region("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == "cn-north-1"
    assert ecr_region("public.ecr.aws") is None
    assert ecr_region("evil.amazonaws.com.example.org") is None


def test_ecr_token_from_moto_authenticates_to_a_registry(moto_endpoint: str) -> None:
    tokens = EcrTokens(endpoint_url=moto_endpoint)
    creds = tokens.get(ECR_HOST)
    assert creds is not None and creds.username == "AWS" and "ECR" in creds.source
    assert creds.password not in repr(creds)
    proc = RegistryProcess()
    registry = proc.start_with_user(creds.username, creds.password)
    try:

        class EcrFor:
            def get(self, host: str) -> Credentials | None:
                return tokens.get(ECR_HOST)

        client = RegistryClient(registry.host, credentials=EcrFor())
        assert client.has_blob("team/app", "sha256:" + "0" * 64) is False  # 404 after auth, not 401
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("host", "region"),
    [
        (ECR_HOST, "us-east-1"),
        ("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ],
)
def test_ecr_token_is_requested_from_the_endpoint_in_the_host_region(
    moto_endpoint: str, host: str, region: str
) -> None:
    proxy = FaultProxy(int(moto_endpoint.rsplit(":", 1)[1]))
    proxy.start()
    try:
        creds = EcrTokens(endpoint_url=f"http://{proxy.host}").get(host)
        assert creds is not None and creds.source == f"Amazon ECR ({region})"
        calls = [
            h for h in proxy.headers if h.get("X-Amz-Target", "").endswith(".GetAuthorizationToken")
        ]
        assert len(calls) == 1
        assert f"/{region}/ecr/aws4_request" in calls[0]["Authorization"]
    finally:
        proxy.stop()


def test_ecr_token_is_cached_and_refreshed_before_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    expiry = [time.time() + 12 * 3600]

    def fetch(self: EcrTokens, host: EcrHost) -> tuple[Credentials, float]:
        calls.append(host.region)
        return Credentials(username="AWS", password="p", source="test"), expiry[0]

    monkeypatch.setattr(EcrTokens, "_fetch", fetch)
    tokens = EcrTokens()
    tokens.get(ECR_HOST)
    tokens.get(ECR_HOST)
    assert calls == ["us-east-1"]
    expiry[0] = time.time() + 60  # inside the refresh margin
    tokens._cache.clear()
    tokens.get(ECR_HOST)
    tokens.get(ECR_HOST)
    assert len(calls) == 3


def test_ecr_without_credentials_is_an_aws_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AwsError):
        EcrTokens(endpoint_url="http://127.0.0.1:9").get(ECR_HOST)

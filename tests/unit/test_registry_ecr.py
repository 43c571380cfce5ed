"""ECR host recognition and token caching (the boto3 call is replaced by a fake)."""

from __future__ import annotations

import base64

import pytest

from soci_ci.errors import AwsError
from soci_ci.registry.auth import Credentials
from soci_ci.registry.credentials import ChainedCredentials
from soci_ci.registry.ecr import (
    REFRESH_MARGIN,
    EcrHost,
    EcrTokens,
    decode_authorization_token,
    parse_ecr_host,
)

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_ecr_hosts() -> None:
    assert parse_ecr_host(HOST) == EcrHost(account="123456789012", region="eu-west-1", fips=False)
    assert parse_ecr_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com") == EcrHost(
        account="123456789012", region="us-east-1", fips=True
    )
    assert parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == EcrHost(
        account="123456789012", region="cn-north-1", fips=False
    )
    for other in ("public.ecr.aws", "123.dkr.ecr.eu-west-1.amazonaws.com", f"{HOST}.evil.example"):
        assert parse_ecr_host(other) is None


class FakeEcr(EcrTokens):
    def __init__(self, lifetime: float) -> None:
        self.now = 1_000_000.0
        super().__init__(endpoint_url="http://127.0.0.1:1", clock=lambda: self.now)
        self.lifetime = lifetime
        self.calls: list[EcrHost] = []

    def _fetch(self, host: EcrHost) -> tuple[Credentials, float]:
        self.calls.append(host)
        creds = Credentials(username="AWS", password=f"pw{len(self.calls)}", source="fake")
        return creds, self.now + self.lifetime


def test_tokens_are_cached_until_shortly_before_expiry() -> None:
    ecr = FakeEcr(lifetime=12 * 3600)
    first = ecr.get(HOST)
    ecr.now += 12 * 3600 - REFRESH_MARGIN - 1
    assert ecr.get(HOST) == first
    ecr.now += 2
    second = ecr.get(HOST)
    assert first is not None and second is not None
    assert (first.password, second.password) == ("pw1", "pw2")
    assert ecr.get("registry.example") is None
    assert len(ecr.calls) == 2


def test_chain_prefers_explicit_for_its_host_then_ecr() -> None:
    ecr = FakeEcr(lifetime=3600 * 12)
    explicit = Credentials(username="x", password="y", source="--username")
    assert ChainedCredentials(explicit=explicit, explicit_host=HOST, ecr=ecr).get(HOST) == explicit
    found = ChainedCredentials(ecr=ecr).get(HOST)
    assert found is not None and found.password == "pw1"
    # Bound to another host, the explicit credentials never answer for this one.
    other = ChainedCredentials(explicit=explicit, explicit_host="ghcr.io", ecr=ecr).get(HOST)
    assert other is not None and other.password == "pw1"
    with pytest.raises(ValueError, match="bound"):
        ChainedCredentials(explicit=explicit)


def test_decode_authorization_token() -> None:
    token = base64.b64encode(b"AWS:abc:def").decode()
    assert decode_authorization_token(token, "r") == Credentials(
        username="AWS", password="abc:def", source="Amazon ECR (r)"
    )
    with pytest.raises(AwsError):
        decode_authorization_token("!!!", "r")

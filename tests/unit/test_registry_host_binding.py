"""Which host each credential may go to: the named registry host, realms, ECR endpoints."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from soci_ci.app.pipeline import Pipeline, RunOptions, StepOutcome
from soci_ci.ci.context import CiContext, Provider
from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.errors import AwsError, RegistryError, UsageError
from soci_ci.registry.auth import Authenticator, Credentials
from soci_ci.registry.credentials import ChainedCredentials
from soci_ci.registry.docker_config import DockerConfig
from soci_ci.registry.ecr import EcrHost, EcrTokens
from soci_ci.registry.reference import parse_registry_host, same_registry

EXPLICIT = Credentials(username="ci", password="explicit-pw", source="--username")


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("ghcr.io", "ghcr.io"),
        ("https://GHCR.io/", "ghcr.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("docker.io", "registry-1.docker.io"),
        ("https://index.docker.io/v1/", "registry-1.docker.io"),
        ("[::1]:5000", "[::1]:5000"),
    ],
)
def test_parse_registry_host(text: str, host: str) -> None:
    assert parse_registry_host(text) == host


@pytest.mark.parametrize(
    "text", ["", "ghcr.io/org", "u:p@ghcr.io", "ghcr.io:0", "ghcr.io:x", "a b", "-x.io"]
)
def test_invalid_registry_hosts(text: str) -> None:
    with pytest.raises(UsageError, match="invalid registry host"):
        parse_registry_host(text)


def test_same_registry_keeps_ports_and_names_apart() -> None:
    assert same_registry("GHCR.io", "ghcr.io")
    assert same_registry("docker.io", "registry-1.docker.io")
    assert not same_registry("localhost:5000", "127.0.0.1:5000")
    assert not same_registry("127.0.0.1:5000", "127.0.0.1:5001")
    assert not same_registry("127.0.0.1", "127.0.0.1:443")


def test_explicit_credentials_only_for_their_host(tmp_path: Path) -> None:
    auth = base64.b64encode(b"docker-user:docker-pw").decode()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"other.example": {"auth": auth}}}))
    chain = ChainedCredentials(
        explicit=EXPLICIT, explicit_host="reg.example", docker=DockerConfig(config)
    )
    assert chain.get("reg.example") == EXPLICIT
    other = chain.get("other.example")
    assert other is not None and other.password == "docker-pw"
    assert chain.get("third.example") is None
    assert chain.get("reg.example:443") is None
    assert chain.get("other.example.evil") is None  # Docker config: exact keys only


def test_registry_options_bind_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCI_CI_REGISTRY_HOST", "https://reg.example/")
    monkeypatch.setenv("SOCI_CI_REGISTRY_USERNAME", "ci")
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", "pw-from-env")
    parser = argparse.ArgumentParser()
    add_registry_arguments(parser)
    options = registry_options(parser.parse_args([]))
    assert (options.credentials_host, options.username) == ("reg.example", "ci")
    assert registry_options(parser.parse_args(["--registry", "b.example"])).credentials_host == (
        "b.example"
    )
    with pytest.raises(UsageError, match="invalid --registry"):
        registry_options(parser.parse_args(["--registry", "b.example/x"]))


class Runner:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> StepOutcome:
        self.calls.append(argv)
        return StepOutcome(code=3, message="stop")


CTX = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=None, sha="a" * 40)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"repository": "reg.example/team/app"}, "reg.example"),
        ({"repository": "team/app"}, "registry-1.docker.io"),
        ({"repository": "reg.example/app", "registry_host": "named.example"}, "named.example"),
        ({"image": "evil.example/app:1", "repository": "reg.example/app"}, "reg.example"),
        ({"image": "img.example/app:1"}, None),
    ],
)
def test_pipeline_names_the_credentials_host(
    tmp_path: Path, options: dict[str, Any], expected: str | None
) -> None:
    runner = Runner()
    Pipeline(RunOptions(work_dir=tmp_path, **options), CTX, runner).run()
    argv = runner.calls[0]
    if expected is None:
        assert "--registry" not in argv
    else:
        assert argv[argv.index("--registry") + 1] == expected


def token_service(realm: str, query: dict[str, str], basic: tuple[str, str] | None) -> Any:
    raise AssertionError(f"no token request expected, got {realm}")


@pytest.mark.parametrize(
    ("base", "realm", "allowed"),
    [
        ("https://reg.example", "https://auth.example/token", True),
        ("https://reg.example", "http://auth.example/token", False),
        ("https://reg.example", "http://reg.example/token", False),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5001/token", True),
        ("http://127.0.0.1:5000", "http://127.0.0.2:5001/token", False),
        ("http://127.0.0.1:5000", "http://localhost:5001/token", False),
        ("http://reg.internal:5000", "http://reg.internal:5000/token", False),
        ("https://reg.example", "ftp://reg.example/token", False),
        ("https://reg.example", "/token", False),
    ],
)
def test_realm_policy(base: str, realm: str, allowed: bool) -> None:
    auth = Authenticator("h", None, token_service, base_url=base)
    if allowed:
        auth.check_realm(realm, "r")
    else:
        with pytest.raises(RegistryError, match="realm"):
            auth.check_realm(realm, "r")


def test_bearer_tokens_must_be_header_safe() -> None:
    class Answer:
        status_code = 200

        def json(self) -> Any:
            return {"token": "abc\r\nX-Injected: 1"}

    auth = Authenticator("h", None, lambda *_: Answer(), base_url="https://h")
    with pytest.raises(RegistryError, match="unusable token"):
        auth.answer('Bearer realm="https://h/token"', "r", push=False)


class FakeBoto:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.asked: list[list[str]] = []

    def get_authorization_token(self, registryIds: list[str]) -> dict[str, Any]:
        self.asked.append(registryIds)
        token = base64.b64encode(b"AWS:ecr-pw").decode()
        return {
            "authorizationData": [{"authorizationToken": token, "proxyEndpoint": self.endpoint}]
        }


def test_ecr_tokens_are_for_the_hosts_account_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    host = EcrHost(account="123456789012", region="eu-west-1", fips=False)
    good = FakeBoto("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    monkeypatch.setattr(boto3, "client", lambda *a, **k: good)
    creds, _ = EcrTokens()._fetch(host)
    assert creds.password == "ecr-pw" and good.asked == [["123456789012"]]
    for other in (
        "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://evil.example",
    ):
        monkeypatch.setattr(boto3, "client", lambda *a, _o=other, **k: FakeBoto(_o))
        with pytest.raises(AwsError, match="answered for another registry"):
            EcrTokens()._fetch(host)


def test_a_credential_helper_answer_for_another_server_is_not_used() -> None:
    from soci_ci.registry.docker_config import parse_helper_output

    answer = '{"ServerURL": "%s", "Username": "u", "Secret": "helper-pw"}'
    own = parse_helper_output(answer % "https://reg.example", "h", host="reg.example")
    assert own is not None and own.password == "helper-pw"
    assert parse_helper_output(answer % "other.example", "h", host="reg.example") is None
    hub = parse_helper_output(
        answer % "https://index.docker.io/v1/", "h", host="registry-1.docker.io"
    )
    assert hub is not None

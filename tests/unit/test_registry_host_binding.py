"""Which host each credential may go to: the named registry host, realms, ECR endpoints."""

from __future__ import annotations

import argparse
import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from soci_ci.app.pipeline import Pipeline
from soci_ci.ci.context import CiContext, Provider
from soci_ci.cli.environment import read_environment
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
    import os

    parser = argparse.ArgumentParser()
    add_registry_arguments(parser)
    environment = read_environment(os.environ)

    def parse(argv: list[str]) -> argparse.Namespace:
        args = parser.parse_args(argv)
        args.environment = environment
        return args

    options = registry_options(parse([]))
    assert (options.credentials_host, options.username) == ("reg.example", "ci")
    assert registry_options(parse(["--registry", "b.example"])).credentials_host == "b.example"
    with pytest.raises(UsageError, match="invalid --registry"):
        registry_options(parse(["--registry", "b.example/x"]))
    monkeypatch.setenv("SOCI_CI_REGISTRY_HOST", "b.example/x")
    with pytest.raises(UsageError, match="invalid SOCI_CI_REGISTRY_HOST"):
        read_environment(os.environ)


CTX = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=None, sha="a" * 40)


@pytest.mark.parametrize(
    ("repository", "image", "env", "expected"),
    [
        ("reg.example/team/app", None, {}, "reg.example"),
        ("team/app", None, {}, "registry-1.docker.io"),
        ("reg.example/app", None, {"SOCI_CI_REGISTRY_HOST": "named.example"}, "named.example"),
        ("reg.example/app", "evil.example/app:1", {}, "reg.example"),
        (None, "img.example/app:1", {}, None),  # None: the host of the image given
    ],
)
def test_the_run_names_the_credentials_host(
    repository: str | None, image: str | None, env: dict[str, str], expected: str | None
) -> None:
    from soci_ci.cli import build_parser
    from soci_ci.cli.run import RunArguments, resolve_settings, run_options
    from tests.support.pipeline import FakeSteps

    args = build_parser().parse_args(["run"] + (["--repository", repository] if repository else []))
    resolved = resolve_settings(args, {}, None)
    options = run_options(
        resolved, RunArguments(image=image, work_dir=Path()), read_environment(env)
    )
    steps = FakeSteps()
    Pipeline(replace(options, work_dir=None), CTX, steps).run()
    first = steps.calls[0][1]
    assert first.registry.credentials_host == expected  # type: ignore[attr-defined]


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

"""Docker config lookups: auths, credHelpers, credsStore (helpers replaced by a fake runner)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from soci_ci.cli.environment import docker_config_dir
from soci_ci.errors import RegistryError
from soci_ci.registry.auth import Credentials
from soci_ci.registry.docker_config import (
    DockerConfig,
    credentials_from_config,
    parse_helper_output,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Helpers:
    def __init__(self, answers: dict[tuple[str, str], str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def __call__(self, helper: str, host: str) -> str | None:
        self.calls.append((helper, host))
        return self.answers.get((helper, host))


def test_auths_entry_under_any_of_dockers_keys() -> None:
    data = {"auths": {"https://reg.example": {"auth": b64("u:p:with:colons")}}}
    assert credentials_from_config(data, "reg.example", "cfg", Helpers({})) == Credentials(
        username="u", password="p:with:colons", source="cfg (https://reg.example)"
    )
    hub = {"auths": {"https://index.docker.io/v1/": {"auth": b64("h:q")}}}
    found = credentials_from_config(hub, "registry-1.docker.io", "cfg", Helpers({}))
    assert found is not None and (found.username, found.password) == ("h", "q")
    assert credentials_from_config(data, "other.example", "cfg", Helpers({})) is None


def test_cred_helper_per_host_wins_over_store_and_auths() -> None:
    data = {
        "credsStore": "desktop",
        "credHelpers": {"reg.example": "ecr-login"},
        "auths": {"reg.example": {"auth": b64("old:old")}},
    }
    helpers = Helpers(
        {
            ("ecr-login", "reg.example"): json.dumps({"Username": "AWS", "Secret": "tok"}),
            ("desktop", "b.example"): json.dumps({"Username": "d", "Secret": "ds"}),
        }
    )
    found = credentials_from_config(data, "reg.example", "cfg", helpers)
    assert found == Credentials(
        username="AWS", password="tok", source="docker-credential-ecr-login"
    )
    found = credentials_from_config(data, "b.example", "cfg", helpers)
    assert found == Credentials(username="d", password="ds", source="docker-credential-desktop")
    # The store knows nothing about c.example: no credentials, anonymous access.
    assert credentials_from_config(data, "c.example", "cfg", helpers) is None
    assert helpers.calls == [
        ("ecr-login", "reg.example"),
        ("desktop", "b.example"),
        ("desktop", "c.example"),
    ]


def test_helper_output_parsing() -> None:
    assert parse_helper_output(None, "x") is None
    assert parse_helper_output("not json", "x") is None
    assert parse_helper_output('{"Username": "u", "Secret": ""}', "x") is None


def test_malformed_auth_is_a_registry_error_without_the_secret() -> None:
    data = {"auths": {"reg.example": {"auth": b64("no-colon-secret")}}}
    with pytest.raises(RegistryError) as info:
        credentials_from_config(data, "reg.example", "cfg", Helpers({}))
    assert "no-colon-secret" not in str(info.value)


def test_config_path_and_file(tmp_path: Path) -> None:
    assert docker_config_dir({"DOCKER_CONFIG": "/d"}) == Path("/d")
    assert docker_config_dir({"HOME": "/home/u"}) == Path("/home/u/.docker")
    assert docker_config_dir({}).name == ".docker"
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"reg.example": {"username": "u", "password": "p"}}}))
    assert DockerConfig(path, Helpers({})).get("reg.example") == Credentials(
        username="u", password="p", source=f"{path} (reg.example)"
    )
    assert DockerConfig(tmp_path / "missing.json", Helpers({})).get("reg.example") is None
    path.write_text("{broken")
    with pytest.raises(RegistryError, match="cannot read Docker config"):
        DockerConfig(path, Helpers({})).get("reg.example")

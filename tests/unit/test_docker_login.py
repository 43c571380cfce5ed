"""Which registry logins the Docker CLI gets, and the temporary config they are written to."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from soci_ci.build.docker_login import (
    HUB_KEY,
    Login,
    base_image_hosts,
    collect_logins,
    docker_env,
    merged_config,
)
from soci_ci.build.docker_tools import DockerTools
from soci_ci.registry.auth import Credentials

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def _creds(user: str) -> Credentials:
    return Credentials(username=user, password=f"{user}-pw", source="test")


def test_from_hosts_skip_stages_args_and_scratch() -> None:
    dockerfile = (
        "# syntax=docker/dockerfile:1\n"
        f"FROM --platform=$BUILDPLATFORM {ECR}/base:1 AS build\n"
        "from ghcr.io/o/tool@sha256:" + "a" * 64 + "\n"
        "FROM build\nFROM ${BASE}\nFROM scratch\nFROM python:3.13-slim\n"
    )
    assert base_image_hosts(dockerfile) == (ECR, "ghcr.io", "registry-1.docker.io")


def test_explicit_login_is_bound_to_its_host(tmp_path: Path) -> None:
    from soci_ci.app.build import build_logins
    from soci_ci.build.spec import BuildSpec

    (tmp_path / "Dockerfile").write_text("FROM ghcr.io/o/base:1\n")
    spec = BuildSpec(context=tmp_path, tags=("push.example.com/app:1",))
    creds = _creds("u")
    bound = build_logins(spec, explicit=creds, explicit_host="registry.example.com:5000")
    assert [w.host for w in bound] == ["registry.example.com:5000"]
    default = build_logins(spec, explicit=creds)
    assert [w.host for w in default] == ["push.example.com"]  # the push host, not ghcr.io
    assert build_logins(spec, explicit=None) == ()


def test_ecr_tokens_for_ecr_hosts_only_and_explicit_first() -> None:
    asked: list[str] = []

    def ecr(host: str) -> Credentials:
        asked.append(host)
        return _creds("AWS")

    explicit = Login(host="ghcr.io", credentials=_creds("me"))
    logins = collect_logins(
        push_hosts=(ECR,),
        base_hosts=("ghcr.io", "registry-1.docker.io"),
        explicit=explicit,
        ecr=ecr,
    )
    assert [(w.host, w.credentials.username) for w in logins] == [("ghcr.io", "me"), (ECR, "AWS")]
    assert asked == [ECR]


def test_merged_config_keeps_the_users_entries_and_drops_a_shadowing_store() -> None:
    user: dict[str, Any] = {
        "auths": {"other.example.com": {"auth": "b3RoZXI6eA=="}},
        "credHelpers": {ECR: "ecr-login", "gcr.io": "gcloud"},
        "credsStore": "desktop",
    }
    logins = [
        Login(host=ECR, credentials=_creds("AWS")),
        Login(host="docker.io", credentials=_creds("hub")),
    ]
    config = merged_config(user, logins, ["/home/u/.docker/cli-plugins"])
    assert base64.b64decode(config["auths"][ECR]["auth"]).decode() == "AWS:AWS-pw"
    assert base64.b64decode(config["auths"][HUB_KEY]["auth"]).decode() == "hub:hub-pw"
    assert config["auths"]["other.example.com"] == user["auths"]["other.example.com"]
    assert config["credHelpers"] == {"gcr.io": "gcloud"}
    assert "credsStore" not in config
    assert config["cliPluginsExtraDirs"] == ["/home/u/.docker/cli-plugins"]


def test_docker_env_is_temporary_private_and_outside_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".docker" / "buildx").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {}}))
    tools = DockerTools(environ={"HOME": str(home)}, config_dir=home / ".docker")
    with docker_env([], tools) as given:
        assert given is tools  # nothing to add: the user's config as it is
    with docker_env([Login(host="r.example", credentials=_creds("u"))], tools) as given:
        directory = Path(given.environ["DOCKER_CONFIG"])
        assert given.config_dir == directory  # what the Docker SDK is handed too
        assert (directory.stat().st_mode & 0o777) == 0o700
        assert ((directory / "config.json").stat().st_mode & 0o777) == 0o600
        assert given.environ["BUILDX_CONFIG"] == str(home / ".docker" / "buildx")
        assert tmp_path not in directory.parents
    assert not directory.exists()
    assert tools.environ == {"HOME": str(home)}  # the caller's environment is not changed
    assert json.loads((home / ".docker" / "config.json").read_text()) == {"auths": {}}

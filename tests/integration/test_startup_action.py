"""`soci-ci startup` inside the action's image, with only the Docker socket (as on GitHub).

The action image is the session's (tests/integration/conftest.py `action_image`). soci-ci runs in a
container of it with the test engine's socket mounted at /var/run/docker.sock and no view of
the engine's files, so it must record through the helper container (its own image, found from
its own container id), and must remove both containers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import ActionImage
from tests.servers.registry import Registry
from tests.support.startup_checks import leftovers
from tests.support.startup_images import EXPECTED

pytestmark = pytest.mark.integration


def _in_action(
    action_image: ActionImage, docker_engine: str, tmp_path: Path, args: list[str]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    socket = docker_engine.removeprefix("unix://")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            f"{socket}:/var/run/docker.sock",
            "-v",
            f"{out}:/out",
            "-e",
            "DOCKER_HOST=unix:///var/run/docker.sock",
            action_image.tag,
            "startup",
            *args,
            "--output-json",
            "/out/s.json",
        ],
        env={**os.environ, "DOCKER_HOST": docker_engine},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result, out


def test_startup_inside_the_action_container_through_the_socket(
    action_image: ActionImage,
    app_image: str,
    docker_engine: str,
    registry: Registry,
    tmp_path: Path,
) -> None:
    args = [app_image, "--soci-image", f"{app_image}-soci", "--ready-log-regex", "^READY$"]
    result, out = _in_action(action_image, docker_engine, tmp_path, args)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "s.json").read_text())
    assert data["recording"]["mode"] == "helper"
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert leftovers(docker_engine) == []


def test_a_local_image_inside_the_action_container_through_the_socket(
    action_image: ActionImage,
    local_image: str,
    docker_engine: str,
    tmp_path: Path,
) -> None:
    # Never pushed: its layers come from the engine (`docker save` through the socket) into
    # the action container's own temporary directory.
    args = [local_image, "--ready-log-regex", "^READY$"]
    result, out = _in_action(action_image, docker_engine, tmp_path, args)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "s.json").read_text())
    assert data["recording"]["mode"] == "helper"
    assert data["image_source"] == "engine" and data["computed_locally"] is True
    assert [f["path"] for f in data["files"]] == list(EXPECTED)
    assert "COMPUTED LOCALLY" in result.stdout
    assert leftovers(docker_engine) == []

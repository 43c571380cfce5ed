"""Packaging: action.yml, the release's action.yml and the workflows against GitHub's schemas
(check-jsonschema's vendored copies, no network), requirements.lock against what is installed,
and the release rewrite of action.yml. The action image itself (built once per session the way
the runner builds it, tests/integration/conftest.py `action_image`) is checked in
test_runner_emulation.py: size, tools, pinned dependencies, a broken PATH.

The real base (python:3.13-slim-trixie pinned by digest) cannot be pulled here: the image is
built on a trixie root filesystem made by mmdebstrap (Debian's python3 and pip at the same
paths), the Dockerfile's own tools stage run on it (apt-get docker-cli docker-buildx, pip
install -r requirements.lock). Not verified here: pulling the pinned base digest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from tests.support.locks import runtime_pins
from tests.support.tools import require

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_action_and_workflows_match_githubs_schemas() -> None:
    require("check-jsonschema")
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    for schema, files in (
        ("vendor.github-actions", [ROOT / "action.yml"]),
        (
            "vendor.github-workflows",
            sorted((ROOT / "examples" / "workflows").glob("*.yml"))
            + sorted((ROOT / ".github" / "workflows").glob("*.yml")),
        ),
    ):
        assert files
        result = subprocess.run(
            ["check-jsonschema", "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_input_reaches_the_cli_through_runs_env() -> None:
    from soci_ci.cli.run import INPUTS

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    mapped = {
        re.fullmatch(r"\$\{\{ inputs\.([a-z0-9-]+) \}\}", value).group(1): key  # type: ignore[union-attr]
        for key, value in action["runs"]["env"].items()
    }
    assert set(action["inputs"]) == set(mapped)
    assert {name: key for name, key in mapped.items() if name != "github-token"} == INPUTS
    assert mapped["github-token"] == "GITHUB_TOKEN"
    assert set(action["outputs"]) == {
        "verdict",
        "reason",
        "image-ref",
        "image-digest",
        "soci-image-ref",
        "soci-index-digest",
        "medians",
        "steps",
        "comment-url",
    }


def test_lock_pins_the_installed_runtime_dependencies_and_their_closure() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {canonicalize_name(n): v for n, v in runtime_pins().items()}
    for name, version in pins.items():
        assert metadata.version(name) == version, name
    wanted = [Requirement(r) for r in metadata.requires("soci-ci") or []]
    seen: set[str] = set()
    while wanted:
        req = wanted.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is needed at run time but missing in requirements.lock"
        if name not in seen:
            seen.add(name)
            wanted += [Requirement(r) for r in metadata.requires(name) or []]
    assert seen == set(pins)


def test_release_action_yml_runs_the_pushed_image(tmp_path: Path) -> None:
    """The release commit's action.yml: only `image:` changes, to the pushed image by digest,
    and it still matches GitHub's schema; main's action.yml keeps building the Dockerfile."""
    require("check-jsonschema")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from release_action_yml import rewrite
    finally:
        sys.path.pop(0)
    text = (ROOT / "action.yml").read_text()
    assert yaml.safe_load(text)["runs"]["image"] == "Dockerfile"
    ref = "docker://ghcr.io/soci-ci/soci-ci:v0.1.0@sha256:" + "a" * 64
    released = rewrite(text, ref)
    assert yaml.safe_load(released)["runs"]["image"] == ref
    changed = [a for a in text.splitlines() if a not in released.splitlines()]
    assert changed == ["  image: Dockerfile"]
    path = tmp_path / "action.yml"
    path.write_text(released)
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-actions", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    with pytest.raises(SystemExit):
        rewrite(text, "docker://ghcr.io/Owner/x:latest")

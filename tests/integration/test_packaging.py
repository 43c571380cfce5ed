"""Packaging: action.yml and the workflows against GitHub's schemas (check-jsonschema's vendored
copies, no network), requirements.lock against what is installed, and the Dockerfile built
by the local engine.

The real base (python:3.11-slim pinned by digest) cannot be pulled here, so the Dockerfile is
built with ``BASE_IMAGE`` pointing at an image made locally by ``docker import`` of a minimal
root filesystem: this interpreter, its standard library and shared libraries, the runtime
dependencies listed in requirements.lock (copied from this environment) and busybox for
``/bin/sh``; ``INSTALL_DOCKER_CLI=false`` and ``INSTALL_DEPS=false`` because apt and PyPI are
not reachable. Verified: every Dockerfile instruction and the image layout, the entrypoint
(absolute interpreter, works with a broken PATH), the pinned dependencies importing inside the
container, and the action mode ending neutral with no config. Not verified here: pulling the
pinned base digest, ``apt-get install docker.io`` and ``pip install -r requirements.lock``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from tests.servers.dockerd import import_image

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE = "soci-ci-test/python-base:3.11"
IMAGE = "soci-ci-test/action:latest"
_SKIP_DIRS = {
    "site-packages",
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "__pycache__",
}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name] = version
    return pins


def test_action_and_workflows_match_githubs_schemas() -> None:
    require("check-jsonschema")
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    for schema, files in (
        ("vendor.github-actions", [ROOT / "action.yml"]),
        ("vendor.github-workflows", sorted((ROOT / "examples" / "workflows").glob("*.yml"))),
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

    pins = {canonicalize_name(n): v for n, v in _lock().items()}
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


def _elf_deps(paths: list[Path]) -> set[Path]:
    deps: set[Path] = set()
    for path in paths:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            match = re.search(r"(?:=> )?(/\S+) \(0x", line)
            if match:
                deps.add(Path(match.group(1)))
    return deps


def _rootfs_tar() -> bytes:
    """A root filesystem with this interpreter at its own prefix and /usr/local/bin/python3."""
    prefix = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    binary = Path(os.path.realpath(sys.executable))
    files: dict[str, Path] = {}
    for path in stdlib.rglob("*"):
        rel = path.relative_to(stdlib)
        if path.is_file() and not (set(rel.parts[:-1]) & _SKIP_DIRS) and "config-" not in str(rel):
            files[str(path)] = path
    site = Path(sysconfig.get_paths()["purelib"])
    for name in _lock():
        dist = metadata.distribution(name)
        for item in dist.files or []:
            full = Path(str(dist.locate_file(item))).resolve()
            if full.is_file() and "__pycache__" not in full.parts and site in full.parents:
                files[str(full)] = full
    elves = [binary, *[p for p in files.values() if p.suffix == ".so"]]
    for lib in _elf_deps(elves):
        files[str(lib)] = lib.resolve()
    files[str(binary)] = binary
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, source in sorted(files.items()):
            tar.add(str(source), arcname=name.lstrip("/"), recursive=False)
        busybox = shutil.which("busybox")
        assert busybox is not None
        tar.add(busybox, arcname="bin/busybox")
        for link, target in (
            ("bin/sh", "busybox"),
            ("usr/local/bin/python3", str(binary)),
            ("usr/local/bin/python", str(binary)),
        ):
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        for directory in ("tmp", "root", "github/workspace", str(prefix).lstrip("/")):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def action_image(docker_engine: str) -> Iterator[dict[str, str]]:
    require("docker")
    require("busybox")
    env = {**os.environ, "DOCKER_HOST": docker_engine, "DOCKER_BUILDKIT": "0"}
    import_image(docker_engine, BASE, _rootfs_tar())
    build = subprocess.run(
        [
            "docker",
            "build",
            "--build-arg",
            f"BASE_IMAGE={BASE}",
            "--build-arg",
            "INSTALL_DOCKER_CLI=false",
            "--build-arg",
            "INSTALL_DEPS=false",
            "-t",
            IMAGE,
            str(ROOT),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    yield env
    subprocess.run(["docker", "rmi", "-f", IMAGE, BASE], env=env, capture_output=True, check=False)


def _docker_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", *args], env=env, capture_output=True, text=True, check=False
    )


def test_image_runs_the_cli_with_a_broken_path(action_image: dict[str, str]) -> None:
    from soci_ci import __version__

    result = _docker_run(action_image, "-e", "PATH=utter-nonsense", IMAGE, "--version")
    assert result.returncode == 0, result.stderr
    # The image has zlib-ng (a pinned dependency), and --version says it is in use.
    assert result.stdout.startswith(f"soci-ci {__version__} (inflate: zlib-ng 2."), result.stdout


def test_image_has_the_pinned_dependencies(action_image: dict[str, str]) -> None:
    code = (
        "from importlib import metadata; "
        "import boto3, docker, yaml, requests, jsonschema, zlib_ng; "
        "print(' '.join(f'{n}=={metadata.version(n)}' for n in "
        "('boto3', 'docker', 'PyYAML', 'jsonschema', 'requests', 'zlib-ng')))"
    )
    result = _docker_run(action_image, "--entrypoint", "/usr/local/bin/python3", IMAGE, "-c", code)
    pins = _lock()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"{n}=={pins[n]}"
        for n in ("boto3", "docker", "PyYAML", "jsonschema", "requests", "zlib-ng")
    ]


def test_image_action_mode_without_config_is_neutral(action_image: dict[str, str]) -> None:
    result = _docker_run(
        action_image, "-w", "/github/workspace", "-e", "GITHUB_ACTIONS=true", IMAGE
    )
    assert result.returncode == 0, result.stderr
    assert "soci-ci run: neutral" in result.stderr
    assert "build skipped: no image.repository in the config" in result.stderr

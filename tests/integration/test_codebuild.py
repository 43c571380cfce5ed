"""The CodeBuild step as a user runs it: buildspec.yml copied unchanged into a repository that
has no soci-ci source, its phases run in order in a clean environment with the CodeBuild
variables, the pinned soci-ci release installed from a local package index standing in for
PyPI (the wheel built from this checkout plus the pinned dependencies), Debian 13's docker CLI
and buildx as on CodeBuild's standard images, the Engine 29 gate, a Basic-auth registry and
the GitHub fake. The secrets-manager variable (GITHUB_TOKEN) is set as CodeBuild resolves it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from soci_ci import __version__
from tests.fakes.github_api import FakeGitHub
from tests.servers.engine_gate import EngineGate
from tests.servers.registry import Registry
from tests.support.runner import ROOT, DockerCli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOKEN = "ghp_codebuildTOKENfromSecretsManager"
REPO = "octo-org/app"


def _simple_index(root: Path, wheels: list[Path]) -> None:
    """A PEP 503 simple index: simple/<project>/index.html linking the files."""
    by_project: dict[str, list[Path]] = {}
    for wheel in wheels:
        project = wheel.name.split("-")[0].lower().replace("_", "-").replace(".", "-")
        by_project.setdefault(project, []).append(wheel)
    for project, files in by_project.items():
        directory = root / "simple" / project
        directory.mkdir(parents=True, exist_ok=True)
        links = []
        for file in files:
            shutil.copy(file, directory / file.name)
            links.append(f'<a href="{file.name}">{file.name}</a><br>')
        (directory / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")


@pytest.fixture(scope="module")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:PORT/simple/ with soci-ci (this checkout) and its pinned dependencies."""
    work = tmp_path_factory.mktemp("index")
    source = work / "src"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = source / name.decode()
        if (ROOT / name.decode()).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name.decode(), target)
    built = work / "built"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(built), str(source)],
        check=True,
        capture_output=True,
    )
    deps = ROOT / ".tools" / f"wheels-py{sys.version_info.major}{sys.version_info.minor}"
    deps.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [
            *pip,
            "download",
            "--only-binary=:all:",
            "-r",
            str(ROOT / "requirements.lock"),
            "-d",
            str(deps),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert download.returncode == 0, download.stderr[-2000:]
    _simple_index(work / "www", [*built.glob("*.whl"), *deps.glob("*.whl")])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(work / "www"))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(users={TOKEN: "octo-bot"}).serve()
    yield fake
    fake.close()


def _phase_commands(buildspec: dict[str, object]) -> list[tuple[str, str]]:
    phases = buildspec["phases"]
    assert isinstance(phases, dict)
    out = []
    for phase in ("install", "pre_build", "build", "post_build"):
        for command in (phases.get(phase) or {}).get("commands", []):
            assert isinstance(command, str), f"{phase}: not a command string: {command!r}"
            out.append((phase, command))
    return out


def test_buildspec_phases_in_a_clean_repository(
    package_index: str,
    runner_docker: DockerCli,
    engine29: EngineGate,
    base_image: str,
    registry_basic: Registry,
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    buildspec_text = (ROOT / "buildspec.yml").read_text()
    buildspec = yaml.safe_load(buildspec_text)
    variables = {k: str(v) for k, v in buildspec["env"]["variables"].items()}
    assert variables["SOCI_CI_VERSION"] == __version__  # the release the buildspec pins
    assert set(buildspec["env"]["secrets-manager"]) == {"GITHUB_TOKEN"}
    # The user's repository: a copy of nothing but their files and this buildspec.
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    (src / "buildspec.yml").write_text(buildspec_text)
    (src / "app" / "data.bin").write_bytes(random.Random(2).randbytes(2 << 20))
    (src / "app" / "Dockerfile").write_text(
        f'FROM {base_image}\nCOPY data.bin /data.bin\nCMD ["ls"]\n'
    )
    (src / ".soci-ci.yml").write_text(
        "version: 1\nimage:\n"
        f"  repository: {registry_basic.host}/codebuild/app\n  context: app\n"
        "  tags: ['{short_sha}']\n"
        "soci:\n  min_layer_size: 1048576\nreport:\n  comment: true\n"
    )
    # GitHub knows PR 42 as a same-repository one, and its base branch has the same config.
    event = json.loads((ROOT / "tests" / "data" / "pull_request_event.json").read_text())
    github.pulls[(REPO, 42)] = event["pull_request"]
    base_sha = event["pull_request"]["base"]["sha"]
    github.files[(REPO, base_sha, ".soci-ci.yml")] = (src / ".soci-ci.yml").read_bytes()
    before = sorted(p.relative_to(src).as_posix() for p in src.rglob("*"))
    # CodeBuild's standard image: a docker CLI with buildx on PATH, HOME=/root.
    home = tmp_path / "root"
    (home / ".docker" / "cli-plugins").mkdir(parents=True)
    (home / ".docker" / "cli-plugins" / "docker-buildx").symlink_to(
        runner_docker.plugins / "docker-buildx"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(runner_docker.binary)
    (bin_dir / "python3").symlink_to(sys.executable)
    venv = Path("/tmp/soci-ci-venv")
    shutil.rmtree(venv, ignore_errors=True)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DOCKER_HOST": engine29.host,
        "CODEBUILD_BUILD_ID": "app-soci-ci:0f1e2d3c",
        "CODEBUILD_SRC_DIR": str(src),
        "CODEBUILD_WEBHOOK_TRIGGER": "pr/42",
        "CODEBUILD_SOURCE_VERSION": "pr/42",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "CODEBUILD_SOURCE_REPO_URL": f"https://github.com/{REPO}.git",
        "CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature/slim-image",
        "CODEBUILD_WEBHOOK_BASE_REF": "refs/heads/main",
        "AWS_REGION": "us-east-1",
        "GITHUB_API_URL": github.url,
        "GITHUB_TOKEN": TOKEN,  # resolved from env.secrets-manager by CodeBuild
        # Project environment variables of the user's project: the registry login.
        "SOCI_CI_REGISTRY_HOST": registry_basic.host,
        "SOCI_CI_REGISTRY_USERNAME": str(registry_basic.username),
        "SOCI_CI_REGISTRY_PASSWORD": str(registry_basic.password),
        # The local index stands in for PyPI; the machine's own pip config is ignored.
        "PIP_INDEX_URL": package_index,
        "PIP_CONFIG_FILE": os.devnull,
        **variables,
    }
    try:
        for phase, command in _phase_commands(buildspec):
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                cwd=src,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert done.returncode == 0, (
                f"{phase}: {command}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
            )
            assert TOKEN not in done.stdout + done.stderr
            assert str(registry_basic.password) not in done.stdout + done.stderr
        version = subprocess.run(
            [str(venv / "bin" / "soci-ci"), "--version"], capture_output=True, text=True, check=True
        )
        assert version.stdout.startswith(f"soci-ci {__version__} ")
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    reports = buildspec["reports"]["soci-ci"]
    junit = src / reports["base-directory"] / reports["files"][0]
    assert '<testsuite name="soci-ci.pipeline"' in junit.read_text()
    after = sorted(p.relative_to(src).as_posix() for p in src.rglob("*"))
    assert sorted(set(after) - set(before)) == ["reports", "reports/soci-ci-junit.xml"]
    comments = github.comments[(REPO, 42)]
    assert len(comments) == 1 and f"{registry_basic.host}/codebuild/app" in comments[0]["body"]
    assert json.dumps(comments).count(TOKEN) == 0

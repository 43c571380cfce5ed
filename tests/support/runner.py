"""Run the action the way GitHub's runner runs a `runs: using: docker` action.

Taken from actions/runner (src/Runner.Worker/Handlers/ContainerActionHandler.cs and
Container/DockerCommandManager.cs, commit 258d6c85, 2026-08):

- build: ``docker build -t <label>:<step id> -f "<action dir>/Dockerfile" "<action dir>"``
  (here with two ``--build-arg``: BASE_IMAGE, a locally made trixie image with the tools
  stage already built, since nothing can be pulled, and TOOLS=preinstalled);
- run: ``docker run --name <n> --label <label> --workdir /github/workspace --rm -e KEY ...
  -e GITHUB_ACTIONS=true -e CI=true [--network <job network>] -v "/var/run/docker.sock":
  "/var/run/docker.sock" -v "<_temp>":"/github/runner_temp" -v "<_temp>/_github_home":
  "/github/home" -v "<_temp>/_github_workflow":"/github/workflow" -v
  "<_temp>/_runner_file_commands":"/github/file_commands" -v "<workspace>":"/github/workspace"
  <image>``; every variable is passed by name (``-e KEY``), its value in the CLI's
  environment, paths under the mounted directories translated to the container's.

Differences here, and why: the socket mounted at /var/run/docker.sock is the test engine's
(behind the Engine 29 gate), not the host's /var/run/docker.sock; `--network host` is given
(the runner's job-network slot) because the test dockerd has no bridge network and the
registry, token server, moto and the GitHub fake listen on the host's 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.github_files import parse_outputs

ROOT = Path(__file__).resolve().parents[2]
LABEL = "a1b2c3"  # the runner's DockerInstanceLabel: 6 hex chars of a hash


def trixie_tools() -> Path:
    """Debian 13's docker-cli and docker-buildx, unpacked by scripts/trixie-tools."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "trixie-tools")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class DockerCli:
    """The runner host's docker CLI: Debian 13's 26.x with the buildx plugin."""

    binary: Path
    plugins: Path
    host: str
    config: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="runner-docker-")))

    def __post_init__(self) -> None:
        (self.config / "config.json").write_text(
            json.dumps({"cliPluginsExtraDirs": [str(self.plugins)]})
        )

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "DOCKER_HOST": self.host,
            "DOCKER_CONFIG": str(self.config),
            **extra,
        }

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def runner_build(cli: DockerCli, action_dir: Path, tag: str, base: str) -> str:
    """The runner's `docker build` of the action (plus the two offline build args)."""
    dockerfile = action_dir / "Dockerfile"
    done = cli(
        "build",
        "-t",
        tag,
        "-f",
        str(dockerfile),
        str(action_dir),
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        "TOOLS=preinstalled",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def action_inputs(inputs: dict[str, str], token: str) -> tuple[dict[str, str], dict[str, str]]:
    """INPUT_* with action.yml's defaults, and runs.env evaluated, as the runner does."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values: dict[str, str] = {}
    for name, spec in action["inputs"].items():
        value = inputs.get(name, str(spec.get("default", "")))
        values[name] = token if value == "${{ github.token }}" else value
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    env = {"INPUT_" + k.replace(" ", "_").upper(): v for k, v in values.items()}
    runs_env = {}
    for key, expression in action["runs"]["env"].items():
        match = re.fullmatch(r"\$\{\{ inputs\.([a-z0-9-]+) \}\}", expression)
        assert match, f"runs.env {key} must map one input"
        runs_env[key] = values[match.group(1)]
    return env, runs_env


@dataclass
class RunnerJob:
    """One job's directories on the runner host (`_work/_temp`, the workspace)."""

    root: Path
    repository: str = "octo-org/app"

    def __post_init__(self) -> None:
        self.temp = self.root / "_work" / "_temp"
        self.home = self.temp / "_github_home"
        self.workflow = self.temp / "_github_workflow"
        self.file_commands = self.temp / "_runner_file_commands"
        self.workspace = self.root / "_work" / "app" / "app"
        for d in (self.home, self.workflow, self.file_commands, self.workspace):
            d.mkdir(parents=True, exist_ok=True)
        # the runner's user owns the workspace (the action runs as root in its container)
        for d in (self.root / "_work", self.workspace.parent, self.workspace, self.temp):
            os.chown(d, 1001, 1001)
        self.step = uuid.uuid4().hex

    @property
    def output(self) -> Path:
        return self.file_commands / f"set_output_{self.step}"

    @property
    def summary(self) -> Path:
        return self.file_commands / f"step_summary_{self.step}"

    def outputs(self) -> dict[str, str]:
        return parse_outputs(self.output.read_text()) if self.output.exists() else {}

    def translate(self, value: str) -> str:
        for host, container in (
            (self.home, "/github/home"),
            (self.workflow, "/github/workflow"),
            (self.file_commands, "/github/file_commands"),
            (self.temp, "/github/runner_temp"),
            (self.workspace, "/github/workspace"),
        ):
            if value == str(host) or value.startswith(f"{host}/"):
                return container + value[len(str(host)) :]
        return value

    def github_env(
        self, github_api: str, event: dict[str, Any], *, sha: str = "f" * 40
    ) -> dict[str, str]:
        """The GITHUB_*/RUNNER_* variables of a pull_request job step (host paths)."""
        (self.workflow / "event.json").write_text(json.dumps(event))
        for name in ("output", "summary"):
            path = getattr(self, name)
            path.touch()
            os.chown(path, 1001, 1001)
        number = event.get("number")
        return {
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": self.repository.split("/")[0],
            "GITHUB_API_URL": github_api,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_GRAPHQL_URL": f"{github_api}/graphql",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(self.workflow / "event.json"),
            "GITHUB_SHA": sha,
            "GITHUB_REF": f"refs/pull/{number}/merge",
            "GITHUB_HEAD_REF": "feature/slim-image",
            "GITHUB_BASE_REF": "main",
            "GITHUB_RUN_ID": "1234567890",
            "GITHUB_RUN_NUMBER": "7",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_JOB": "soci",
            "GITHUB_ACTION": "__self",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_WORKFLOW": "soci",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_ENV": str(self.file_commands / f"set_env_{self.step}"),
            "GITHUB_PATH": str(self.file_commands / f"add_path_{self.step}"),
            "GITHUB_STATE": str(self.file_commands / f"save_state_{self.step}"),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "GitHub Actions 2",
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
            "RUNNER_WORKSPACE": str(self.workspace.parent),
            "HOME": str(self.home),
        }

    def run(
        self,
        cli: DockerCli,
        image: str,
        socket: Path,
        env: dict[str, str],
        *,
        network: str = "host",
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        """The runner's `docker run` of the action's image, variables passed by name."""
        translated = {key: self.translate(value) for key, value in env.items()}
        name = f"{LABEL}_{re.sub(r'[^a-z0-9]', '', image.lower())[:40]}_{secrets.token_hex(3)}"
        argv = ["run", "--name", name, "--label", LABEL, "--workdir", "/github/workspace", "--rm"]
        for key in translated:
            argv += ["-e", key]
        argv += ["-e", "GITHUB_ACTIONS=true"]
        if "CI" not in translated:
            argv += ["-e", "CI=true"]
        argv += ["--network", network]
        for source, target in (
            (socket, "/var/run/docker.sock"),
            (self.temp, "/github/runner_temp"),
            (self.home, "/github/home"),
            (self.workflow, "/github/workflow"),
            (self.file_commands, "/github/file_commands"),
            (self.workspace, "/github/workspace"),
        ):
            argv += ["-v", f"{source}:{target}"]
        argv.append(image)
        return cli(*argv, env={**cli.env(), **translated}, timeout=timeout)

    def root_owned(self) -> list[str]:
        """Paths in the workspace not owned by the runner's user."""
        bad = []
        for path in [self.workspace, *self.workspace.rglob("*")]:
            if path.lstat().st_uid != 1001:
                bad.append(str(path.relative_to(self.workspace)))
        return bad

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

"""The action end to end: entrypoint.py in a subprocess with the environment a GitHub container
action receives (built from action.yml), a real dockerd, a real local registry and the local
GitHub fake; again as a CodeBuild step (JUnit written); and a fork pull request (neutral).

The probe is off in these runs (see docs/action.md, "What the end-to-end test covers"):
build -> push -> index -> verify -> gate (skipped: nothing measured) -> report.
Outputs are compared as whole text with golden files after replacing what changes from run
to run (digests, durations, the registry port).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.github_api import BOT, FakeGitHub
from tests.servers.moto import Moto
from tests.servers.registry import Registry
from tests.support.github_files import parse_outputs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden"
TOKEN = "ghs_e2eTOKENthatMUSTnotLEAK"
FORK_TOKEN = "ghs_forkREADonlyTOKEN"
REPO = "octo-org/app"
UPDATE = os.environ.get("SOCI_CI_UPDATE_GOLDEN") == "1"


def _action_env(inputs: dict[str, str], token: str) -> dict[str, str]:
    """INPUT_* (with action.yml defaults) and runs.env, as the runner sets them."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values: dict[str, str] = {}
    for name, spec in action["inputs"].items():
        default = str(spec.get("default", ""))
        value = inputs.get(name, default)
        if value == "${{ github.token }}":
            value = token
        values[name] = value
        values_key = "INPUT_" + name.replace(" ", "_").upper()
        values[values_key] = value
    env = {k: v for k, v in values.items() if k.startswith("INPUT_")}
    for key, expression in action["runs"]["env"].items():
        match = re.fullmatch(r"\$\{\{ inputs\.([a-z0-9-]+) \}\}", expression)
        assert match, f"runs.env {key} must map one input"
        env[key] = values[match.group(1)]
    return env


def _normalize(text: str, registry: Registry) -> str:
    names: dict[str, str] = {}

    def digest(m: re.Match[str]) -> str:
        return names.setdefault(m.group(0), f"sha256:<digest-{len(names) + 1}>")

    text = re.sub(r"sha256:[0-9a-f]{64}", digest, text)
    text = text.replace(registry.host, "<registry>")
    text = re.sub(r"\d+\.\d+ s\)", "<t> s)", text)
    text = re.sub(r'time="[0-9.]+"', 'time="<t>"', text)
    return re.sub(r"ghadelimiter_[0-9a-f]{32}", "ghadelimiter_<random>", text)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual)
    assert actual == path.read_text(), f"{name} differs (SOCI_CI_UPDATE_GOLDEN=1 rewrites)"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(
        users={TOKEN: BOT, FORK_TOKEN: BOT},
        bot_tokens={TOKEN, FORK_TOKEN},
        read_only_tokens={FORK_TOKEN},
    ).serve()
    yield fake
    fake.close()


@pytest.fixture
def workspace(tmp_path: Path, base_image: str, registry: Registry) -> Path:
    """A user's repository: an app Dockerfile with a 3 MiB layer and its .soci-ci.yml."""
    ws = tmp_path / "workspace"
    (ws / "app").mkdir(parents=True)
    (ws / "app" / "data.bin").write_bytes(random.Random(7).randbytes(3 << 20))
    (ws / "app" / "Dockerfile").write_text(
        f'FROM {base_image}\nCOPY data.bin /srv/data.bin\nCMD ["ls", "-l", "/srv"]\n'
    )
    (ws / ".soci-ci.yml").write_text(
        "version: 1\n"
        "image:\n"
        f"  repository: {registry.host}/e2e/app\n"
        "  context: app\n"
        "  tags: ['{short_sha}', '{pr}']\n"
        "soci:\n"
        "  min_layer_size: 1048576\n"
        "  verify: {enabled: true, sample: 20}\n"
        "probe:\n"
        "  enabled: false\n"
        "startup:\n"  # covered by tests/integration/test_startup_run.py
        "  enabled: false\n"
        "report:\n"
        "  comment: true\n"
    )
    return ws


def _run(env: dict[str, str], cwd: Path, docker_engine: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd.parent / "home"),
        "DOCKER_HOST": docker_engine,
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "entrypoint.py")],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _github_env(ws: Path, github: FakeGitHub, event: str, token: str) -> dict[str, str]:
    files = ws.parent / "file_commands"
    files.mkdir(exist_ok=True)
    payload = json.loads((DATA / event).read_text())
    return {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(DATA / event),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": f"refs/pull/{payload['number']}/merge",
        "GITHUB_RUN_ID": "1234567890",
        "GITHUB_WORKSPACE": str(ws),
        "GITHUB_OUTPUT": str(files / "output"),
        "GITHUB_STEP_SUMMARY": str(files / "summary"),
        **_action_env({}, token),
    }


def test_pull_request_run_comments_once_and_updates_in_place(
    workspace: Path, github: FakeGitHub, registry: Registry, docker_engine: str
) -> None:
    env = _github_env(workspace, github, "pull_request_event.json", TOKEN)
    env["SOCI_CI_REPOSITORY"] = f"{registry.host}/e2e/pr"
    _base_branch_has_the_same_config(github, workspace)
    first = _run(env, workspace, docker_engine)
    assert first.returncode == 0, first.stderr
    assert f"::add-mask::{TOKEN}" in first.stdout
    assert TOKEN not in first.stderr
    assert TOKEN not in first.stdout.replace(f"::add-mask::{TOKEN}", "")
    comments = github.comments[(REPO, 42)]
    assert len(comments) == 1
    _golden("pr_comment.md", _normalize(comments[0]["body"], registry))
    files = workspace.parent / "file_commands"
    _golden("pr_summary.md", _normalize((files / "summary").read_text(), registry))
    _golden("pr_output.txt", _normalize((files / "output").read_text(), registry))

    second = _run(env, workspace, docker_engine)
    assert second.returncode == 0, second.stderr
    assert len(github.comments[(REPO, 42)]) == 1
    methods = [(r.method, r.path.split("?")[0]) for r in github.requests]
    assert methods.count(("POST", f"/repos/{REPO}/issues/42/comments")) == 1
    assert ("PATCH", f"/repos/{REPO}/issues/comments/{comments[0]['id']}") in methods or (
        github.comments[(REPO, 42)][0]["body"] == comments[0]["body"]
    )
    # The pushed SOCI-enabled image is real: verify it again from the outside.
    outputs = parse_outputs((files / "output").read_text())
    assert outputs["verdict"] == "neutral"
    assert outputs["soci-image-ref"].startswith(f"{registry.host}/e2e/pr@sha256:")
    from soci_ci.cli import main

    assert main(["verify", outputs["soci-image-ref"]]) == 0


def test_fork_pull_request_is_neutral_without_any_write(
    workspace: Path, github: FakeGitHub, registry: Registry, docker_engine: str
) -> None:
    env = _github_env(workspace, github, "pull_request_fork_event.json", FORK_TOKEN)
    result = _run(env, workspace, docker_engine)
    assert result.returncode == 0, result.stderr
    assert "::notice title=soci-ci%3A neutral::fork pull request" in result.stdout
    assert [r.method for r in github.requests] == []
    files = workspace.parent / "file_commands"
    _golden("fork_summary.md", _normalize((files / "summary").read_text(), registry))
    assert parse_outputs((files / "output").read_text())["verdict"] == "neutral"


def test_codebuild_run_writes_junit_and_comments(
    workspace: Path, github: FakeGitHub, registry: Registry, docker_engine: str
) -> None:
    env = {
        "CODEBUILD_BUILD_ID": "app-soci-ci:0f1e2d3c",
        "CODEBUILD_WEBHOOK_TRIGGER": "pr/42",
        "CODEBUILD_SOURCE_VERSION": "pr/42",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "CODEBUILD_SOURCE_REPO_URL": f"https://github.com/{REPO}.git",
        "CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature/slim-image",
        "CODEBUILD_WEBHOOK_BASE_REF": "refs/heads/main",
        "GITHUB_API_URL": github.url,
        "GITHUB_TOKEN": TOKEN,
        "SOCI_CI_JUNIT_FILE": "reports/soci-ci-junit.xml",
        "SOCI_CI_REPOSITORY": f"{registry.host}/e2e/codebuild",
    }
    _base_branch_has_the_same_config(github, workspace)
    result = _run(env, workspace, docker_engine)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    junit = (workspace / "reports" / "soci-ci-junit.xml").read_text()
    _golden("codebuild_junit.xml", _normalize(junit, registry))
    _golden("codebuild_comment.md", _normalize(github.comments[(REPO, 42)][0]["body"], registry))


def _base_branch_has_the_same_config(github: FakeGitHub, ws: Path) -> None:
    """The pull request does not touch .soci-ci.yml: the base branch (read through the contents
    API, the checkout has no git history) has the same file, and GitHub knows the PR as a
    same-repository one (CodeBuild asks)."""
    event = json.loads((DATA / "pull_request_event.json").read_text())
    base_sha = event["pull_request"]["base"]["sha"]
    github.files[(REPO, base_sha, ".soci-ci.yml")] = (ws / ".soci-ci.yml").read_bytes()
    github.pulls[(REPO, 42)] = event["pull_request"]


@pytest.mark.parametrize("thresholds", [False, True], ids=["no-thresholds", "gate"])
def test_probe_step_against_moto_through_botocores_endpoint_variable(
    workspace: Path,
    github: FakeGitHub,
    registry: Registry,
    docker_engine: str,
    moto_server: Moto,
    thresholds: bool,
) -> None:
    """AWS_ENDPOINT_URL (botocore's own) points the probe's ECS/Logs clients at moto: the plumbing runs for
    real (task definitions, RunTask, DescribeTasks, cleanup); moto has no Fargate timestamps,
    so every run is a classified failure and the report says so."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_server.endpoint, region_name="us-east-1")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ecs = boto3.client("ecs", endpoint_url=moto_server.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName="e2e")
    before = len(ecs.list_tasks(cluster="e2e", desiredStatus="STOPPED")["taskArns"])
    config = workspace / ".soci-ci.yml"
    config.write_text(
        config.read_text().replace(
            "probe:\n  enabled: false\n",
            "probe:\n  enabled: true\n  cluster: e2e\n  region: us-east-1\n  runs: 1\n"
            "  poll_seconds: 0.05\n"
            "  execution_role_arn: arn:aws:iam::123456789012:role/exec\n"
            "  log_group: /soci-ci/probe\n  create_log_group: true\n"
            f"  check_image: {registry.host}/e2e/probe@sha256:{'c' * 64}\n"
            f"  network: {{subnets: [{subnet}], security_groups: []}}\n"
            "  ready: {log_regex: READY, timeout_seconds: 20}\n",
        )
        + (
            "thresholds:\n  absolute:\n    - {phase: total, stat: p50, arm: soci, max_seconds: 30}\n"
            if thresholds
            else ""
        )
    )
    env = _github_env(workspace, github, "pull_request_event.json", TOKEN)
    env.update(
        {
            "SOCI_CI_REPOSITORY": f"{registry.host}/e2e/probe",
            "AWS_ENDPOINT_URL": moto_server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    env["SOCI_CI_JUNIT_FILE"] = "junit.xml"
    _base_branch_has_the_same_config(github, workspace)
    result = _run(env, workspace, docker_engine)
    outputs = parse_outputs((workspace.parent / "file_commands" / "output").read_text())
    steps = {s["name"]: s for s in json.loads(outputs["steps"])}
    assert steps["probe"]["status"] == "ran"
    assert steps["probe"]["detail"] == "2 task(s) in us-east-1"
    body = github.comments[(REPO, 42)][0]["body"]
    junit = (workspace / "junit.xml").read_text()
    tasks = ecs.list_tasks(cluster="e2e", desiredStatus="STOPPED")["taskArns"]
    assert len(tasks) == before + 2
    if not thresholds:
        assert result.returncode == 0, result.stderr
        assert steps["gate"] == {
            "name": "gate",
            "status": "skipped",
            "detail": "no thresholds in the config",
        }
        assert "### Cold starts" in body
        assert "| no-soci | total (created → ready) | 0 |" in body
        return
    # moto's tasks never get Fargate timestamps: every run failed, so the gate fails (exit 1)
    assert result.returncode == 1, result.stderr
    assert outputs["verdict"] == "fail"
    assert steps["gate"]["status"] == "ran"
    assert "### Thresholds" in body
    assert "::error file=.soci-ci.yml,title=soci-ci%3A check failed::" in result.stdout
    assert '<testsuite name="soci-ci.pipeline" tests="6" failures="0" skipped="1"' in junit
    assert junit.count("<testsuite ") >= 2

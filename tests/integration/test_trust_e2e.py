"""Pull requests as an attacker writes them, through entrypoint.py as the action runs it.

Each case runs ``entrypoint.py`` in a subprocess with the environment of a GitHub container
action (or a CodeBuild build), a 1 GiB address-space limit and a timeout, against the local
GitHub fake on 127.0.0.1 (contents API for the base branch's config, pulls API for CodeBuild's
fork check, comments). No case needs Docker: either nothing may run (refused, fork) or the run
uses an existing image with the index step off, which is enough to see which settings won.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from soci_ci.report.comment import comment_marker
from tests.fakes.github_api import BOT, FakeGitHub
from tests.support.bounded import MiB, Outcome, base_env, entrypoint, run_bounded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
REPO = "octo-org/app"
TOKEN = "ghs_trustTOKENthatMUSTnotLEAK"
FORK_TOKEN = "ghs_forkREADonly"
EVENT = json.loads((DATA / "pull_request_event.json").read_text())
BASE_SHA = EVENT["pull_request"]["base"]["sha"]
MARKER = comment_marker(REPO)
_COMMAND = re.compile(r"^\s*::|##\[")

BASE_CONFIG = """version: 1
image:
  repository: registry.trusted.example/team/app
  tags: ['{sha}']
probe:
  enabled: false
  cluster: ci
  task_definition: app-ci
soci:
  enabled: false
"""
PR_CONFIG = BASE_CONFIG.replace(
    "registry.trusted.example/team/app", "attacker.example/loot"
).replace("task_definition: app-ci", "task_definition: payments-prod\n  task_role_arn: arn:x")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(
        users={TOKEN: BOT, FORK_TOKEN: BOT, "ghp_other": "mallory"},
        bot_tokens={TOKEN, FORK_TOKEN},
        read_only_tokens={FORK_TOKEN},
    ).serve()
    yield fake
    fake.close()


def _action_env(inputs: dict[str, str], token: str) -> dict[str, str]:
    """INPUT_* (action.yml defaults) and runs.env, as the runner sets them."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {}
    for name, spec in action["inputs"].items():
        value = inputs.get(name, str(spec.get("default", "")))
        values[name] = token if value == "${{ github.token }}" else value
    env = {"INPUT_" + name.upper(): value for name, value in values.items()}
    for key, expression in action["runs"]["env"].items():
        match = re.fullmatch(r"\$\{\{ inputs\.([a-z0-9-]+) \}\}", expression)
        assert match, expression
        env[key] = values[match.group(1)]
    return env


def _workspace(tmp_path: Path, config: str, name: str = ".soci-ci.yml") -> Path:
    ws = tmp_path / "workspace"
    (ws / name).parent.mkdir(parents=True, exist_ok=True)
    (ws / name).write_text(config)
    (ws / "Dockerfile").write_text("FROM scratch\n")
    return ws


def _github_run(
    ws: Path,
    github: FakeGitHub,
    *,
    event: dict[str, Any] | None = None,
    inputs: dict[str, str] | None = None,
    token: str = TOKEN,
    seconds: float = 60,
    docker: str | None = None,
) -> Outcome:
    files = ws.parent / "file_commands"
    files.mkdir(exist_ok=True)
    event_path = ws.parent / "event.json"
    event_path.write_text(json.dumps(event or EVENT))
    payload = event or EVENT
    env = {
        **base_env(ws.parent / "home"),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": f"refs/pull/{payload['number']}/merge",
        "GITHUB_RUN_ID": "77",
        "GITHUB_WORKSPACE": str(ws),
        "GITHUB_OUTPUT": str(files / "output"),
        "GITHUB_STEP_SUMMARY": str(files / "summary"),
        **_action_env(
            {"image": "registry.trusted.example/team/app:given", **(inputs or {})}, token
        ),
    }
    if docker is not None:
        env["DOCKER_HOST"] = docker
    result = run_bounded(entrypoint(), env=env, cwd=ws, seconds=seconds, memory=1024 * MiB)
    assert token not in result.stderr
    assert token not in result.stdout.replace(f"::add-mask::{token}", "")
    return result


def _explain(result: Outcome) -> dict[str, str]:
    out = {}
    for line in result.stdout.splitlines():
        if " = " in line and not line.startswith("::"):
            key, value = line.split(" = ", 1)
            out[key] = value
    return out


def test_a_same_repo_pr_cannot_change_trusted_settings(tmp_path: Path, github: FakeGitHub) -> None:
    ws = _workspace(tmp_path, PR_CONFIG)
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = BASE_CONFIG.encode()
    result = _github_run(ws, github, inputs={"explain": "true"})
    assert result.returncode == 0, result.stderr
    settings = _explain(result)
    assert settings["image.repository"] == '"registry.trusted.example/team/app" (file)'
    assert settings["probe.task_definition"] == '"app-ci" (file)'
    assert settings["probe.task_role_arn"] == "null (default)"
    assert (
        "soci-ci run: ignored from the pull request's config: image.repository = "
        '"attacker.example/loot" (a trusted setting; using '
        '"registry.trusted.example/team/app" from the base branch)' in result.stderr
    )
    assert "probe.task_role_arn" in result.stderr
    assert [r.path.split("?")[0] for r in github.requests] == [
        f"/repos/{REPO}/contents/.soci-ci.yml"
    ]
    assert github.requests[0].path.endswith(f"?ref={BASE_SHA}")


def test_the_report_says_which_change_was_ignored(tmp_path: Path, github: FakeGitHub) -> None:
    ws = _workspace(tmp_path, PR_CONFIG)
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = BASE_CONFIG.encode()
    result = _github_run(ws, github)
    assert result.returncode == 0, result.stderr
    body = github.comments[(REPO, 42)][0]["body"]
    assert body.startswith(MARKER + "\n")
    assert "ignored from the pull request's config: image.repository" in body
    assert "attacker.example/loot" in body  # shown, escaped, as what was refused
    summary = (ws.parent / "file_commands" / "summary").read_text()
    assert "probe.task\\_definition" in summary


def test_the_base_config_comes_from_git_when_the_checkout_has_it(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ws = _workspace(tmp_path, BASE_CONFIG)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ws), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    base_sha = git("rev-parse", "HEAD")
    (ws / ".soci-ci.yml").write_text(PR_CONFIG)
    event = json.loads(json.dumps(EVENT))
    event["pull_request"]["base"]["sha"] = base_sha
    result = _github_run(ws, github, event=event, inputs={"explain": "true"})
    assert result.returncode == 0, result.stderr
    assert _explain(result)["image.repository"] == '"registry.trusted.example/team/app" (file)'
    assert not any("/contents/" in r.path for r in github.requests)


def test_an_unreadable_base_config_ignores_every_trusted_setting(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ws = _workspace(tmp_path, PR_CONFIG)
    github.fail_next = [(403, "Resource not accessible by integration")]
    result = _github_run(ws, github, inputs={"explain": "true", "repository": "wf.example/app"})
    assert result.returncode == 0, result.stderr
    settings = _explain(result)
    assert settings["image.repository"] == '"wf.example/app" (flag)'  # the workflow's input
    assert settings["probe.task_definition"] == "null (default)"
    assert settings["probe.cluster"] == '"default" (default)'
    assert "the base branch's config could not be read (GitHub API at " in result.stderr
    assert "HTTP 403" in result.stderr


def test_a_fork_cannot_write_outside_the_workspace(tmp_path: Path, github: FakeGitHub) -> None:
    ws = _workspace(tmp_path, "version: 1\nreport:\n  junit: ../../x\n")
    fork = json.loads((DATA / "pull_request_fork_event.json").read_text())
    result = _github_run(ws, github, event=fork, token=FORK_TOKEN)
    assert result.returncode == 2
    assert "error: report.junit: '../../x' resolves outside the workspace" in result.stderr
    assert not (tmp_path.parent / "x").exists()
    assert [r.method for r in github.requests] == []


def test_a_fork_config_bomb_ends_fast_and_bounded(tmp_path: Path, github: FakeGitHub) -> None:
    from tests.support.hostile import BILLION_LAUGHS

    ws = _workspace(tmp_path, BILLION_LAUGHS)
    fork = json.loads((DATA / "pull_request_fork_event.json").read_text())
    result = _github_run(ws, github, event=fork, token=FORK_TOKEN, seconds=20)
    assert result.returncode == 2, result.stderr
    assert result.seconds < 15
    assert "YAML anchors (&name) are not allowed" in result.stderr
    assert "::error file=.soci-ci.yml,line=2,title=soci-ci%3A invalid config::" in result.stderr


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (
            "version: 1\nimage:\n  dockerfile: /home/runner/.docker/config.json\n",
            "image.dockerfile",
        ),
        ("version: 1\nimage:\n  dockerfile: /proc/self/environ\n", "image.dockerfile"),
        ("version: 1\nimage:\n  context: ../../..\n", "image.context"),
        ("version: 1\nimage:\n  dockerfile: Dockerfile.link\n", "image.dockerfile"),
    ],
    ids=["docker-config", "proc-environ", "context-up", "symlink-out"],
)
def test_paths_outside_the_workspace_stop_the_run_before_anything(
    tmp_path: Path, github: FakeGitHub, config: str, key: str
) -> None:
    ws = _workspace(tmp_path, config)
    (tmp_path / "secret.json").write_text('{"auths": {"x": {"auth": "c2VjcmV0"}}}')
    (ws / "Dockerfile.link").symlink_to(tmp_path / "secret.json")
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = config.encode()
    result = _github_run(ws, github, inputs={"image": ""})
    assert result.returncode == 2, result.stderr
    assert f"error: {key}: " in result.stderr
    assert "c2VjcmV0" not in result.stdout + result.stderr
    # Nothing ran; the only write is the report: the sticky comment with the error.
    writes = [r for r in github.requests if r.method in {"POST", "PATCH"}]
    assert [r.path.split("?")[0] for r in writes] == [f"/repos/{REPO}/issues/42/comments"]
    body = github.comments[(REPO, 42)][0]["body"]
    assert "**Verdict:** ❌ error" in body and key in body and "c2VjcmV0" not in body
    assert not (ws / ".soci-ci").exists()


def test_a_config_file_outside_the_workspace_is_refused(tmp_path: Path, github: FakeGitHub) -> None:
    ws = _workspace(tmp_path, BASE_CONFIG)
    (tmp_path / "elsewhere.yml").write_text(BASE_CONFIG)
    (ws / "linked.yml").symlink_to(tmp_path / "elsewhere.yml")
    for path in ("../elsewhere.yml", "linked.yml", "/etc/passwd"):
        result = _github_run(ws, github, inputs={"config": path})
        assert result.returncode == 2, result.stderr
        assert "error: config: " in result.stderr


def _schema_keys(section: str) -> list[str]:
    schema = json.loads((ROOT / "soci_ci" / "config" / "schema.json").read_text())
    return sorted(schema["properties"][section]["properties"])


def test_config_errors_are_annotated_with_their_repository_path_and_lines(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ws = _workspace(tmp_path, "version: 1\nimage:\n  tags: 3\nprobe:\n  runz: 1\n", "ci/soci.yml")
    result = _github_run(ws, github, inputs={"config": "ci/soci.yml"})
    assert result.returncode == 2
    annotations = [line for line in result.stderr.splitlines() if line.startswith("::error")]
    assert annotations == [
        "::error file=ci/soci.yml,line=3,title=soci-ci%3A invalid config::"
        "image.tags: 3 is not of type 'array'",
        "::error file=ci/soci.yml,line=5,title=soci-ci%3A invalid config::"
        f"probe: unknown key 'runz'; allowed: {', '.join(_schema_keys('probe'))}",
    ]
    assert result.stderr.startswith("error: ci/soci.yml:3: image.tags: 3 is not of type 'array'")


def test_the_sticky_comment_is_only_our_own_marked_comment(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ws = _workspace(tmp_path, BASE_CONFIG)
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = BASE_CONFIG.encode()
    quoting = github.add_comment(REPO, 42, BOT, f"a bot quoting it:\n> {MARKER}\n")
    other = github.add_comment(REPO, 42, "mallory", f"{MARKER}\nnot the bot's")
    first = _github_run(ws, github)
    assert first.returncode == 0, first.stderr
    comments = github.comments[(REPO, 42)]
    assert len(comments) == 3
    assert comments[0]["body"] == quoting["body"]
    assert comments[1]["body"] == other["body"]
    ours = comments[2]
    assert ours["user"]["login"] == BOT
    assert ours["body"].startswith(MARKER + "\n## soci-ci")
    second = _github_run(ws, github, inputs={"tags": "second"})
    assert second.returncode == 0, second.stderr
    assert len(github.comments[(REPO, 42)]) == 3
    assert [c["body"] for c in github.comments[(REPO, 42)][:2]] == [
        quoting["body"],
        other["body"],
    ]


def test_hostile_text_from_the_pr_prints_no_workflow_command(
    tmp_path: Path, github: FakeGitHub
) -> None:
    """Build arguments, labels and the branch name come from the PR; the build step logs the
    build arguments' names (and fails here: no Docker engine), so they reach stderr."""
    hostile = "x\n::add-mask::y\r::error title=p::wned\n  ::stop-commands::t\n##[error]z"
    config = BASE_CONFIG.replace(
        "probe:\n", f"  build_args: {{{json.dumps(hostile)}: {json.dumps(hostile)}}}\nprobe:\n"
    )
    ws = _workspace(tmp_path, config)
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = config.encode()
    event = json.loads(json.dumps(EVENT))
    event["pull_request"]["head"]["ref"] = hostile
    result = _github_run(
        ws, github, event=event, inputs={"image": "", "tags": "{branch}"}, docker="unix:///nope"
    )
    assert result.returncode == 5, result.stderr
    assert "::add-mask::y" in result.stderr.replace("\u200b", "")  # printed, but inert
    ours = re.compile(rf"^::(add-mask::{TOKEN}|(notice|warning|error) [^\r\n]*)$")
    for text in (result.stdout, result.stderr):
        for line in re.split(r"\r\n|\r|\n", text):
            if _COMMAND.search(line):
                assert ours.match(line), line


def _codebuild_run(ws: Path, github: FakeGitHub, *, token: str | None) -> Outcome:
    env = {
        **base_env(ws.parent / "home"),
        "CODEBUILD_BUILD_ID": "app:1",
        "CODEBUILD_SRC_DIR": str(ws),
        "CODEBUILD_WEBHOOK_TRIGGER": "pr/42",
        "CODEBUILD_SOURCE_VERSION": "pr/42",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": EVENT["pull_request"]["head"]["sha"],
        "CODEBUILD_SOURCE_REPO_URL": f"https://github.com/{REPO}.git",
        "CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature",
        "CODEBUILD_WEBHOOK_BASE_REF": "refs/heads/main",
        "CODEBUILD_WEBHOOK_EVENT": "PULL_REQUEST_UPDATED",
        "GITHUB_API_URL": github.url,
        "SOCI_CI_IMAGE": "registry.trusted.example/team/app:given",
    }
    if token:
        env["GITHUB_TOKEN"] = token
    return run_bounded(entrypoint(), env=env, cwd=ws, seconds=60, memory=1024 * MiB)


def test_codebuild_pull_requests_are_untrusted_until_github_confirms(
    tmp_path: Path, github: FakeGitHub
) -> None:
    ws = _workspace(tmp_path, PR_CONFIG)
    unverified = _codebuild_run(ws, github, token=None)
    assert unverified.returncode == 0, unverified.stderr
    assert "neutral (CodeBuild pull request not confirmed" in unverified.stderr
    assert github.requests == []

    fork = json.loads((DATA / "pull_request_fork_event.json").read_text())["pull_request"]
    github.pulls[(REPO, 42)] = fork
    forked = _codebuild_run(ws, github, token=TOKEN)
    assert forked.returncode == 0, forked.stderr
    assert "neutral (fork pull request (its head branch is in another repository)" in (
        forked.stderr
    )
    assert [r.path for r in github.requests] == [f"/repos/{REPO}/pulls/42"]

    github.requests.clear()
    github.pulls[(REPO, 42)] = EVENT["pull_request"]
    github.files[(REPO, BASE_SHA, ".soci-ci.yml")] = BASE_CONFIG.encode()
    same = _codebuild_run(ws, github, token=TOKEN)
    assert same.returncode == 0, same.stderr
    assert "ignored from the pull request's config: image.repository" in same.stderr
    paths = [r.path.split("?")[0] for r in github.requests]
    assert paths[:2] == [f"/repos/{REPO}/pulls/42", f"/repos/{REPO}/contents/.soci-ci.yml"]
    assert ("POST", f"/repos/{REPO}/issues/42/comments") in [
        (r.method, r.path) for r in github.requests
    ]

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.ci.codebuild_env import parse_codebuild_context, pr_number, repository_from_url
from soci_ci.ci.github_env import (
    PullRequest,
    input_env_names,
    parse_github_context,
    read_input,
)
from soci_ci.errors import UsageError

DATA = Path(__file__).parent.parent / "data"


def test_input_names_keep_hyphens_like_the_runner() -> None:
    assert input_env_names("config-file") == ("INPUT_CONFIG-FILE", "INPUT_CONFIG_FILE")
    assert input_env_names("my input") == ("INPUT_MY_INPUT", "INPUT_MY_INPUT")


def test_read_input_prefers_runner_spelling_and_ignores_empty() -> None:
    env = {"INPUT_CONFIG-FILE": " a.yml ", "INPUT_CONFIG_FILE": "b.yml", "INPUT_RUNS": "  "}
    assert read_input(env, "config-file") == "a.yml"
    assert read_input({"INPUT_CONFIG_FILE": "b.yml"}, "config-file") == "b.yml"
    assert read_input(env, "runs") is None


def test_pull_request_payload_same_repo() -> None:
    text = (DATA / "pull_request_event.json").read_text()
    env = {
        "GITHUB_REPOSITORY": "octo-org/app",
        "GITHUB_SHA": "ffffffffffffffffffffffffffffffffffffffff",
        "GITHUB_REF": "refs/pull/42/merge",
        "GITHUB_API_URL": "http://127.0.0.1:1/",
    }
    ctx = parse_github_context(env, text, token="ghs_secret")
    assert ctx.pull_request == PullRequest(
        number=42,
        head_sha="6dcb09b5b57875f334f61aebed695e2e4193db5e",
        head_ref="feature/slim-image",
        base_sha="9049f1265b7d61be4a8904a9a27120d2064dab3b",
        base_ref="main",
        head_repository="octo-org/app",
        base_repository="octo-org/app",
        fork=False,
    )
    assert ctx.head_sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert ctx.branch == "feature/slim-image"
    assert ctx.api_url == "http://127.0.0.1:1"
    assert not ctx.is_fork_pr
    assert "ghs_secret" not in repr(ctx)


def test_fork_detected_by_name_flag_or_deleted_repo() -> None:
    fork = (DATA / "pull_request_fork_event.json").read_text()
    assert parse_github_context({}, fork).is_fork_pr
    event = json.loads((DATA / "pull_request_event.json").read_text())
    event["pull_request"]["head"]["repo"]["full_name"] = "someone/app"
    event["pull_request"]["head"]["repo"]["fork"] = False
    assert parse_github_context({}, json.dumps(event)).is_fork_pr
    event["pull_request"]["head"]["repo"] = None
    assert parse_github_context({}, json.dumps(event)).is_fork_pr


def test_push_event_has_no_pull_request_and_branch_from_ref() -> None:
    ctx = parse_github_context(
        {"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "abc"},
        json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "o/r"}}),
    )
    assert ctx.pull_request is None
    assert ctx.repository == "o/r"
    assert ctx.branch == "main"
    assert ctx.head_sha == "abc"


@pytest.mark.parametrize("text", ["not json", "[1]", '{"pull_request": {"number": "x"}}'])
def test_bad_payload_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_github_context({}, text)


def test_codebuild_pull_request_build() -> None:
    env = {
        "CODEBUILD_BUILD_ID": "app:1",
        "CODEBUILD_WEBHOOK_TRIGGER": "pr/123",
        "CODEBUILD_SOURCE_VERSION": "pr/123",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "6dcb09b5",
        "CODEBUILD_SOURCE_REPO_URL": "https://github.com/octo-org/app.git",
        "CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature/x",
        "CODEBUILD_WEBHOOK_BASE_REF": "refs/heads/main",
        "CODEBUILD_WEBHOOK_EVENT": "PULL_REQUEST_UPDATED",
    }
    ctx = parse_codebuild_context(env)
    assert ctx.pull_request == PullRequest(
        number=123, head_sha="6dcb09b5", head_ref="feature/x", base_ref="main", fork=True
    )  # CodeBuild does not say where the head lives: a fork until GitHub confirms
    assert ctx.repository == "octo-org/app"
    assert ctx.branch == "feature/x"


def test_codebuild_branch_build() -> None:
    ctx = parse_codebuild_context(
        {"CODEBUILD_WEBHOOK_TRIGGER": "branch/main", "CODEBUILD_SOURCE_VERSION": "abc"}
    )
    assert ctx.pull_request is None
    assert ctx.branch == "main"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("pr/7", 7), ("branch/pr/7", None), ("tag/v1", None), ("", None), (None, None)],
)
def test_pr_number(value: str | None, expected: int | None) -> None:
    assert pr_number(value) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/o/r.git", "o/r"),
        ("https://github.com/o/r", "o/r"),
        ("https://x-token:abc@github.com/o/r.git", "o/r"),
        ("git@github.com:o/r.git", "o/r"),
        ("https://git-codecommit.us-east-1.amazonaws.com/v1/repos/r", None),
        ("s3://bucket/key.zip", None),
    ],
)
def test_repository_from_url(url: str, expected: str | None) -> None:
    assert repository_from_url(url) == expected

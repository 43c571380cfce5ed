"""Which pull requests are trusted: GitHub by the event payload, CodeBuild only once GitHub
has confirmed that the head branch lives in the base repository (unknown = a fork)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.ci.context import (
    CODEBUILD_FORK_REASON,
    CODEBUILD_UNVERIFIED_REASON,
    GITHUB_FORK_REASON,
    CiContext,
    Provider,
    confirm_origin,
    detect_context,
)
from soci_ci.ci.github_env import PullRequest, parse_pull_request

DATA = Path(__file__).resolve().parents[1] / "data"
CODEBUILD = {
    "CODEBUILD_BUILD_ID": "app:1",
    "CODEBUILD_WEBHOOK_TRIGGER": "pr/42",
    "CODEBUILD_RESOLVED_SOURCE_VERSION": "6dcb09b5",
    "CODEBUILD_SOURCE_REPO_URL": "https://github.com/octo-org/app.git",
    "CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature",
    "CODEBUILD_WEBHOOK_BASE_REF": "refs/heads/main",
    "CODEBUILD_WEBHOOK_EVENT": "PULL_REQUEST_UPDATED",
    "CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID": "583231",
}


def _pr(head: str, base: str = "octo-org/app", **extra: object) -> PullRequest:
    return PullRequest(
        number=42, head_repository=head, base_repository=base, base_sha="9" * 40, **extra
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "env",
    [
        CODEBUILD,
        {k: v for k, v in CODEBUILD.items() if k != "CODEBUILD_WEBHOOK_TRIGGER"},
        {
            **CODEBUILD,
            "CODEBUILD_WEBHOOK_TRIGGER": "",
            "CODEBUILD_WEBHOOK_EVENT": "PULL_REQUEST_CREATED",
        },
        {**CODEBUILD, "CODEBUILD_SOURCE_REPO_URL": "https://gitlab.example/o/r.git"},
        {**CODEBUILD, "CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID": ""},
    ],
    ids=["pr", "no-trigger", "event-only", "not-github", "no-actor"],
)
def test_every_codebuild_pull_request_starts_untrusted(env: dict[str, str]) -> None:
    ctx = detect_context(env, None, token=None)
    assert ctx.provider is Provider.CODEBUILD
    assert ctx.pr_number is not None
    assert ctx.fork
    assert ctx.fork_reason == CODEBUILD_UNVERIFIED_REASON


def test_a_codebuild_branch_build_is_not_a_pull_request() -> None:
    env = {
        "CODEBUILD_BUILD_ID": "app:2",
        "CODEBUILD_WEBHOOK_TRIGGER": "branch/main",
        "CODEBUILD_WEBHOOK_EVENT": "PUSH",
    }
    ctx = detect_context(env, None, token=None)
    assert (ctx.pr_number, ctx.fork) == (None, False)


def test_confirmation_from_github_decides() -> None:
    ctx = detect_context(CODEBUILD, None, token="t")
    asked: list[tuple[str, int]] = []

    def same(repo: str, number: int) -> PullRequest:
        asked.append((repo, number))
        return _pr("Octo-Org/App", "Octo-Org/App", base_ref="main")

    trusted = confirm_origin(ctx, same)
    assert asked == [("octo-org/app", 42)]
    assert (trusted.fork, trusted.fork_reason, trusted.base_sha) == (False, "", "9" * 40)

    forked = confirm_origin(ctx, lambda r, n: _pr("mallory/app", fork=True))
    assert (forked.fork, forked.fork_reason) == (True, CODEBUILD_FORK_REASON)
    other_base = confirm_origin(ctx, lambda r, n: _pr("other/app", "other/app"))
    assert other_base.fork
    unknown = confirm_origin(ctx, lambda r, n: None)
    assert (unknown.fork, unknown.fork_reason) == (True, CODEBUILD_UNVERIFIED_REASON)


def test_confirmation_is_not_asked_for_what_it_cannot_decide() -> None:
    def never(repo: str, number: int) -> PullRequest:
        raise AssertionError("must not be asked")

    github = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=1, fork=True)
    assert confirm_origin(github, never) is github
    event_only = {**CODEBUILD, "CODEBUILD_WEBHOOK_TRIGGER": "", "CODEBUILD_SOURCE_VERSION": ""}
    ctx = detect_context(event_only, None, token="t")
    assert confirm_origin(ctx, never).fork


def test_github_fork_detection() -> None:
    event = json.loads((DATA / "pull_request_event.json").read_text())
    same = parse_pull_request(event)
    assert same is not None and not same.fork
    # A same-repository PR in a repository that is itself a fork: head.repo.fork is true.
    event["pull_request"]["head"]["repo"]["fork"] = True
    event["pull_request"]["base"]["repo"]["fork"] = True
    in_a_fork = parse_pull_request(event)
    assert in_a_fork is not None and not in_a_fork.fork
    event["pull_request"]["head"]["repo"]["id"] = 999
    assert parse_pull_request(event).fork  # type: ignore[union-attr]
    event["pull_request"]["head"]["repo"] = {"fork": False}
    assert parse_pull_request(event).fork  # type: ignore[union-attr]
    ctx = detect_context(
        {"GITHUB_ACTIONS": "true"}, (DATA / "pull_request_fork_event.json").read_text(), token=None
    )
    assert (ctx.fork, ctx.fork_reason) == (True, GITHUB_FORK_REASON)


@pytest.mark.parametrize("name", ["pull_request", "pull_request_target"])
def test_a_pull_request_event_without_its_pull_request_is_an_error(name: str) -> None:
    from soci_ci.errors import UsageError

    with pytest.raises(UsageError, match=f"a {name} event without its pull request"):
        detect_context({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": name}, "{}", token=None)
    with pytest.raises(UsageError):
        detect_context({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": name}, None, token=None)

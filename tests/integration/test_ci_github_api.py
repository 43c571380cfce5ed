"""The sticky-comment client against the local GitHub fake, and the token from moto's Secrets
Manager."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from soci_ci.ci.github_api import (
    GITHUB_ACTIONS_BOT,
    MAX_COMMENT_CHARS,
    CommentOutcome,
    Forbidden,
    GitHubClient,
    upsert_comment,
)
from soci_ci.ci.secrets import resolve_token
from soci_ci.errors import GitHubError
from tests.fakes.github_api import FakeGitHub
from tests.servers.moto import Moto

REPO = "octo-org/app"
MARKER = "<!-- soci-ci:octo-org/app:default -->"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(
        users={"ghs_bot": GITHUB_ACTIONS_BOT, "ghp_user": "alice", "ghs_fork": GITHUB_ACTIONS_BOT},
        bot_tokens={"ghs_bot", "ghs_fork"},
        read_only_tokens={"ghs_fork"},
    ).serve()
    yield fake
    fake.close()


def _client(fake: FakeGitHub, token: str) -> GitHubClient:
    return GitHubClient(api_url=fake.url, token=token, sleep=lambda _s: None)


def test_creates_once_then_updates_in_place_across_pages(github: FakeGitHub) -> None:
    for i in range(130):
        github.add_comment(REPO, 42, "someone", f"comment {i}")
    # A look-alike written by someone else must never be edited.
    github.add_comment(REPO, 42, "mallory", f"fake report\n{MARKER}")
    client = _client(github, "ghs_bot")
    first = upsert_comment(client, repository=REPO, number=42, body="v1\n", marker=MARKER)
    assert first.outcome is CommentOutcome.CREATED
    second = upsert_comment(client, repository=REPO, number=42, body="v2\n", marker=MARKER)
    assert second.outcome is CommentOutcome.UPDATED
    assert second.comment_id == first.comment_id
    third = upsert_comment(client, repository=REPO, number=42, body="v2\n", marker=MARKER)
    assert third.outcome is CommentOutcome.UNCHANGED
    ours = [c for c in github.comments[(REPO, 42)] if c["id"] == first.comment_id]
    assert ours[0]["body"] == f"{MARKER}\nv2\n"
    mallory = [c for c in github.comments[(REPO, 42)] if c["user"]["login"] == "mallory"]
    assert mallory[0]["body"] == f"fake report\n{MARKER}"
    pages = [r.path for r in github.requests if r.method == "GET" and "comments" in r.path]
    assert pages[:2] == [
        f"/repos/{REPO}/issues/42/comments?per_page=100",
        f"/repos/{REPO}/issues/42/comments?per_page=100&page=2",
    ]
    assert all(r.authorization == "Bearer ghs_bot" for r in github.requests)


def test_a_bot_comment_quoting_the_marker_is_never_taken_for_ours(github: FakeGitHub) -> None:
    quoted = github.add_comment(REPO, 5, GITHUB_ACTIONS_BOT, f"> {MARKER}\nquoted")
    inline = github.add_comment(REPO, 5, GITHUB_ACTIONS_BOT, f"see {MARKER} above")
    client = _client(github, "ghs_bot")
    result = upsert_comment(client, repository=REPO, number=5, body="report", marker=MARKER)
    assert result.outcome is CommentOutcome.CREATED
    assert [c["body"] for c in github.comments[(REPO, 5)][:2]] == [quoted["body"], inline["body"]]


def test_user_token_identity_from_get_user(github: FakeGitHub) -> None:
    github.add_comment(REPO, 7, GITHUB_ACTIONS_BOT, f"old\n{MARKER}")
    result = upsert_comment(
        _client(github, "ghp_user"), repository=REPO, number=7, body="new", marker=MARKER
    )
    assert result.outcome is CommentOutcome.CREATED
    assert [c["user"]["login"] for c in github.comments[(REPO, 7)]] == [
        GITHUB_ACTIONS_BOT,
        "alice",
    ]


def test_fork_token_403_is_a_result(github: FakeGitHub) -> None:
    result = upsert_comment(
        _client(github, "ghs_fork"), repository=REPO, number=43, body="x", marker=MARKER
    )
    assert result.outcome is CommentOutcome.FORBIDDEN
    assert "Resource not accessible by integration" in result.message
    assert (REPO, 43) not in github.comments


def test_retries_5xx_then_succeeds(github: FakeGitHub) -> None:
    github.fail_next = [502, 503]
    result = upsert_comment(
        _client(github, "ghs_bot"), repository=REPO, number=1, body="x", marker=MARKER
    )
    assert result.outcome is CommentOutcome.CREATED
    github.fail_next = [500, 500, 500, 500]
    with pytest.raises(GitHubError, match="HTTP 500") as info:
        _client(github, "ghs_bot").list_comments(REPO, 1)
    assert "ghs_bot" not in str(info.value)


def test_secondary_rate_limit_is_retried_but_a_plain_403_is_not(github: FakeGitHub) -> None:
    slept: list[float] = []
    client = GitHubClient(api_url=github.url, token="ghs_bot", sleep=slept.append)
    github.fail_next = [(403, "You have exceeded a secondary rate limit"), (429, "slow down")]
    assert client.list_comments(REPO, 3) == []
    assert slept == [0.0, 0.0]
    github.fail_next = [(403, "Resource not accessible by integration")]
    with pytest.raises(Forbidden, match="HTTP 403: Resource not accessible by integration"):
        client.list_comments(REPO, 3)
    assert len(slept) == 2


def test_body_is_cut_to_the_limit_keeping_the_marker(github: FakeGitHub) -> None:
    result = upsert_comment(
        _client(github, "ghs_bot"), repository=REPO, number=2, body="x" * 70_000, marker=MARKER
    )
    body = github.comments[(REPO, 2)][0]["body"]
    assert result.outcome is CommentOutcome.CREATED
    assert len(body) <= MAX_COMMENT_CHARS
    assert body.startswith(MARKER + "\nxxx")
    assert "truncated" in body


def test_token_from_secrets_manager(moto_server: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", endpoint_url=moto_server.endpoint
    )
    client.create_secret(Name="soci-ci/github-token", SecretString='{"token": "ghp_from_sm"}')
    env = {
        "SOCI_CI_GITHUB_TOKEN_SECRET": "soci-ci/github-token",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server.endpoint,
    }
    assert resolve_token(env) == "ghp_from_sm"
    assert resolve_token({**env, "GITHUB_TOKEN": "ghs_env"}) == "ghs_env"

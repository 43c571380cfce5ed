"""The GitHub token only goes to the API origin; hostile API answers end as GitHubError (exit 7),
bounded and redacted. A scriptable HTTP fake on loopback plays the API (and other hosts)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from soci_ci.ci.github_api import GitHubClient, upsert_comment
from soci_ci.errors import ExitCode, GitHubError
from tests.servers.hostile_http import Answer, HostileServer, Seen, ServerPool, endless

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_minute")]
TOKEN = "ghs_" + "T0ken" * 8
MARKER = "<!-- soci-ci:o/r:default -->"


def api(next_url: Callable[[], str] | None = None, /, **extra: Answer) -> Callable[[Seen], Answer]:
    def handle(seen: Seen) -> Answer:
        if seen.path in extra:
            return extra[seen.path]
        if seen.path == "/user":
            return Answer(200, {}, json.dumps({"login": "github-actions[bot]"}).encode())
        if "/comments" in seen.path and seen.method == "GET":
            headers = {"Link": f'<{next_url()}>; rel="next"'} if next_url else {}
            return Answer(200, headers, b"[]")
        return Answer(201, {}, json.dumps({"id": 1, "body": "x", "user": {}}).encode())

    return handle


def tokens_at(server: HostileServer) -> list[str]:
    return [a for a in server.authorizations() if TOKEN in a]


def client(server: HostileServer) -> GitHubClient:
    return GitHubClient(api_url=server.url, token=TOKEN, sleep=lambda _s: None, retries=1)


@pytest.mark.parametrize(
    "other", ["another host", "another port", "another scheme", "an unparsable URL"]
)
def test_the_token_never_follows_a_link_to_another_origin(serve: ServerPool, other: str) -> None:
    sink = serve(api(), bind="127.0.0.2" if other == "another host" else "127.0.0.1")
    holder: list[HostileServer] = []

    def next_url() -> str:
        github = holder[0]
        if other == "another scheme":
            return f"https://{github.host}/repos/o/r/issues/1/comments?page=2"
        if other == "an unparsable URL":
            return "http://[::1/repos/o/r/issues/1/comments?page=2"
        return f"{sink.url}/repos/o/r/issues/1/comments?page=2"

    github = serve(api(next_url))
    holder.append(github)
    with pytest.raises(GitHubError, match="refusing to send the token") as caught:
        upsert_comment(client(github), repository="o/r", number=1, body="b", marker=MARKER)
    assert caught.value.exit_code is ExitCode.GITHUB
    assert TOKEN not in str(caught.value)
    assert tokens_at(sink) == []
    assert all(s.path != "/repos/o/r/issues/1/comments?page=2" for s in github.seen)


def test_same_origin_links_are_followed_up_to_the_page_cap(
    serve: ServerPool,
) -> None:
    holder: list[HostileServer] = []
    finite = serve(api(None))
    assert client(finite).list_comments("o/r", 1) == []
    endless_pages = serve(api(lambda: f"{holder[0].url}/repos/o/r/issues/1/comments?page=2"))
    holder.append(endless_pages)
    with pytest.raises(GitHubError, match="more than 100 pages"):
        client(endless_pages).list_comments("o/r", 1)
    assert len(endless_pages.seen) == 100
    assert all(TOKEN in (s.authorization or "") for s in endless_pages.seen)


def test_hostile_answers_are_bounded_and_redacted(serve: ServerPool) -> None:
    endless_page = serve(
        api(**{"/repos/o/r/issues/1/comments?per_page=100": Answer(200, {}, endless(b"[" * 65536))})
    )
    start = time.monotonic()
    with pytest.raises(GitHubError, match="larger than 16 MiB"):
        client(endless_page).list_comments("o/r", 1)
    assert time.monotonic() - start < 30 and endless_page.sent < 64 << 20
    reflected = serve(
        api(
            **{
                "/repos/o/r/issues/1/comments": Answer(
                    422,
                    {},
                    json.dumps(
                        {"message": f"bad credentials Bearer {TOKEN}\n::error ::x"}
                    ).encode(),
                )
            }
        )
    )
    with pytest.raises(GitHubError) as caught:
        client(reflected).create_comment("o/r", 1, "b")
    assert TOKEN not in str(caught.value) and "\n" not in str(caught.value)
    redirect = serve(
        api(**{"/user": Answer(302, {"Location": "ftp://127.0.0.2/x?sig=SIGNATURE123"})})
    )
    with pytest.raises(GitHubError) as caught:
        client(redirect).viewer_login()
    assert "SIGNATURE123" not in str(caught.value)

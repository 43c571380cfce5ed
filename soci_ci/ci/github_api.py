"""The GitHub REST edge: the one sticky pull-request comment.

Only the action's own comment is ever updated: it must carry the hidden marker AND be written
by the token's identity (``GET /user`` when the token may call it, else
``github-actions[bot]``, the identity of ``GITHUB_TOKEN``). Comments are listed page by page
following the ``Link`` header. 5xx, 429 and secondary rate limits are retried with capped
backoff. A 403 on writing (fork pull requests get a read-only token) is a result, not an
error: the caller ends neutral and explains. The token is sent in a header and never logged,
and only to the API's own origin (scheme, host, port of ``api_url``): a ``Link`` to another
origin is not followed. Answers are read with the bounds of soci_ci/limits.py.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from soci_ci.backoff import backoff_delay
from soci_ci.errors import GitHubError
from soci_ci.http_body import BodyTooLarge, BodyTooSlow, read_body
from soci_ci.limits import BODY_SECONDS_MAX, GITHUB_BODY_MAX, GITHUB_PAGES_MAX
from soci_ci.redaction import redact_url, remember_secret, server_text

log = logging.getLogger(__name__)

GITHUB_ACTIONS_BOT = "github-actions[bot]"
MAX_COMMENT_CHARS = 65_536
_TRUNCATED = "\n\n… (truncated: the full report is in the job summary)\n"
_USER_AGENT = "soci-ci"


class CommentOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    id: int
    author: str | None
    body: str
    url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentResult:
    outcome: CommentOutcome
    url: str | None = None
    comment_id: int | None = None
    message: str = ""


class Forbidden(GitHubError):
    """403 on a write: read-only token (fork pull request) or missing permission."""


def limit_body(body: str, *, limit: int = MAX_COMMENT_CHARS) -> str:
    """The body cut to GitHub's comment limit; the marker (the first line) stays."""
    if len(body) <= limit:
        return body
    return body[: limit - len(_TRUNCATED)] + _TRUNCATED


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for part in header[:16384].split(","):
        section = part.split(";")
        if len(section) < 2:
            continue
        url = section[0].strip()
        if any(s.strip() == 'rel="next"' for s in section[1:]) and url.startswith("<"):
            return url.strip("<>")
    return None


def _is_rate_limited(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if response.headers.get("x-ratelimit-remaining") == "0":
        return True
    if "retry-after" in {k.lower() for k in response.headers}:
        return True
    return "rate limit" in response.text.lower()


@dataclass(slots=True, kw_only=True)
class GitHubClient:
    """A small REST client; ``api_url`` comes from ``GITHUB_API_URL`` (tests: a local fake)."""

    api_url: str
    token: str = field(repr=False)
    retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        remember_secret(self.token)
        self.session.max_redirects = 5

    def _url(self, path_or_url: str) -> str:
        if "://" not in path_or_url:
            return f"{self.api_url.rstrip('/')}/{path_or_url.lstrip('/')}"
        if _origin(path_or_url) != _origin(self.api_url):
            raise GitHubError(
                f"GitHub API: refusing to send the token to {redact_url(path_or_url)}: "
                f"not the API origin {redact_url(self.api_url)}",
                hint="a Link header pointed to another host, scheme or port",
            )
        return path_or_url

    def request(
        self, method: str, path_or_url: str, *, json_body: dict[str, Any] | None = None
    ) -> requests.Response:
        url = self._url(path_or_url)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": _USER_AGENT,
        }
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=headers,
                    json=json_body,
                    timeout=self.timeout_seconds,
                    stream=True,
                )
                read_body(response, GITHUB_BODY_MAX, seconds=BODY_SECONDS_MAX)
            except BodyTooSlow:
                raise GitHubError(
                    f"GitHub API {method} {redact_url(url)}: the answer took more than "
                    f"{BODY_SECONDS_MAX:.0f} s",
                    hint="check GITHUB_API_URL and the network",
                ) from None
            except BodyTooLarge:
                raise GitHubError(
                    f"GitHub API {method} {redact_url(url)}: the answer is larger than "
                    f"{GITHUB_BODY_MAX >> 20} MiB",
                    hint="check GITHUB_API_URL",
                ) from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as exc:
                transient = isinstance(exc, (requests.ConnectionError, requests.Timeout))
                if not transient or attempt >= self.retries:
                    raise GitHubError(
                        f"GitHub API {method} {redact_url(url)} failed: {type(exc).__name__}",
                        hint="check GITHUB_API_URL and the network",
                    ) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            temporary = response.status_code >= 500 or _is_rate_limited(response)
            if temporary and attempt < self.retries:
                self._wait(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            return response

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = backoff_delay(attempt, base=self.backoff_seconds, cap=self.max_backoff_seconds)
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = min(self.max_backoff_seconds, max(0.0, float(retry_after)))
        log.debug("GitHub API: retrying in %.1fs", delay)
        self.sleep(delay)

    def _check(self, response: requests.Response, what: str) -> Any:
        if response.status_code == 403:
            raise Forbidden(
                f"GitHub refused to {what} (HTTP 403: {_message(response)})",
                hint="fork pull requests get a read-only token; otherwise grant "
                "`permissions: pull-requests: write` in the workflow",
            )
        if response.status_code >= 400:
            raise GitHubError(
                f"GitHub API could not {what} (HTTP {response.status_code}: {_message(response)})"
            )
        try:
            return response.json()
        except (ValueError, RecursionError) as exc:
            raise GitHubError(f"GitHub API answered non-JSON to {what}") from exc

    def viewer_login(self) -> str:
        """The token's login; ``github-actions[bot]`` when ``GET /user`` is not allowed."""
        response = self.request("GET", "user")
        if response.status_code in (401, 403, 404):
            return GITHUB_ACTIONS_BOT
        data = self._check(response, "read the token's user")
        login = data.get("login") if isinstance(data, dict) else None
        return login if isinstance(login, str) and login else GITHUB_ACTIONS_BOT

    def list_comments(self, repository: str, number: int) -> list[Comment]:
        url: str | None = f"repos/{repository}/issues/{number}/comments?per_page=100"
        comments: list[Comment] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > GITHUB_PAGES_MAX:
                raise GitHubError(
                    f"GitHub API: more than {GITHUB_PAGES_MAX} pages of comments on #{number}"
                )
            response = self.request("GET", url)
            data = self._check(response, f"list comments of #{number}")
            if not isinstance(data, list):
                raise GitHubError("GitHub API: comment list is not a JSON array")
            comments.extend(_comment(item) for item in data if isinstance(item, dict))
            link = _next_link(response.headers.get("Link"))
            url = _join(self._url(url), link) if link else None
        return comments

    def create_comment(self, repository: str, number: int, body: str) -> Comment:
        response = self.request(
            "POST", f"repos/{repository}/issues/{number}/comments", json_body={"body": body}
        )
        return _comment(self._check(response, f"comment on #{number}"))

    def update_comment(self, repository: str, comment_id: int, body: str) -> Comment:
        response = self.request(
            "PATCH", f"repos/{repository}/issues/comments/{comment_id}", json_body={"body": body}
        )
        return _comment(self._check(response, f"update comment {comment_id}"))


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return server_text(response.reason or "no message", limit=200)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return server_text(data["message"], limit=200)
    return server_text(response.reason or "no message", limit=200)


def _join(base: str, reference: str) -> str:
    try:
        return urljoin(base, reference)
    except ValueError:
        return "invalid://link"  # refused by the origin check, like any other origin


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def _comment(item: Any) -> Comment:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise GitHubError("GitHub API: unexpected comment object")
    user = item.get("user")
    author = user.get("login") if isinstance(user, dict) else None
    body = item.get("body")
    url = item.get("html_url")
    return Comment(
        id=item["id"],
        author=author if isinstance(author, str) else None,
        body=body if isinstance(body, str) else "",
        url=url if isinstance(url, str) else None,
    )


def starts_with_marker(body: str, marker: str) -> bool:
    """True when the body's first line is exactly ``marker`` (quoting it elsewhere is not)."""
    return body.split("\n", 1)[0].rstrip("\r") == marker


def find_own_comment(comments: list[Comment], *, marker: str, author: str) -> Comment | None:
    """The first comment that starts with ``marker`` and was written by ``author``; a comment
    that merely quotes the marker, or anyone else's, is never touched."""
    for comment in comments:
        if comment.author == author and starts_with_marker(comment.body, marker):
            return comment
    return None


def upsert_comment(
    client: GitHubClient, *, repository: str, number: int, body: str, marker: str
) -> CommentResult:
    """Create the sticky comment once, then update it in place; 403 -> FORBIDDEN."""
    if not starts_with_marker(body, marker):
        body = f"{marker}\n{body}"
    body = limit_body(body)
    try:
        author = client.viewer_login()
        existing = find_own_comment(
            client.list_comments(repository, number), marker=marker, author=author
        )
        if existing is None:
            created = client.create_comment(repository, number, body)
            return CommentResult(
                outcome=CommentOutcome.CREATED, url=created.url, comment_id=created.id
            )
        if existing.body == body:
            return CommentResult(
                outcome=CommentOutcome.UNCHANGED, url=existing.url, comment_id=existing.id
            )
        updated = client.update_comment(repository, existing.id, body)
        return CommentResult(outcome=CommentOutcome.UPDATED, url=updated.url, comment_id=updated.id)
    except Forbidden as exc:
        return CommentResult(outcome=CommentOutcome.FORBIDDEN, message=exc.message)

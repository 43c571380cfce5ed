"""The environment a GitHub container action receives, parsed into values (pure).

The runner exposes each input as ``INPUT_<NAME>``: upper-cased, spaces become ``_``, hyphens
are kept (``fail-on`` -> ``INPUT_FAIL-ON``). ``read_input`` also accepts the underscore
spelling used by ``act``. The pull request comes from the event payload at
``GITHUB_EVENT_PATH``; only its JSON text is handed in here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soci_ci.errors import UsageError

DEFAULT_API_URL = "https://api.github.com"
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})


def input_env_names(name: str) -> tuple[str, str]:
    """The runner's variable name for input ``name`` and the underscore variant (``act``)."""
    runner = "INPUT_" + name.replace(" ", "_").upper()
    return runner, runner.replace("-", "_")


def read_input(environ: Mapping[str, str], name: str) -> str | None:
    """The input's value stripped, or None when unset or empty."""
    for key in input_env_names(name):
        value = environ.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    """The pull request a run belongs to, as far as the CI knows it."""

    number: int
    head_sha: str | None = None
    head_ref: str | None = None
    base_sha: str | None = None
    base_ref: str | None = None
    head_repository: str | None = None
    base_repository: str | None = None
    fork: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubContext:
    """What the action needs from the GitHub Actions environment."""

    repository: str | None
    api_url: str
    event_name: str | None
    sha: str | None
    ref: str | None
    run_id: str | None
    server_url: str
    output_path: str | None
    summary_path: str | None
    event_path: str | None
    pull_request: PullRequest | None
    token: str | None = field(default=None, repr=False)

    @property
    def is_fork_pr(self) -> bool:
        return self.pull_request is not None and self.pull_request.fork

    @property
    def head_sha(self) -> str | None:
        """The commit to report on: the PR head, not the synthetic merge commit."""
        if self.pull_request is not None and self.pull_request.head_sha:
            return self.pull_request.head_sha
        return self.sha

    @property
    def branch(self) -> str | None:
        if self.pull_request is not None and self.pull_request.head_ref:
            return self.pull_request.head_ref
        if self.ref and self.ref.startswith("refs/heads/"):
            return self.ref.removeprefix("refs/heads/")
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_pull_request(event: Mapping[str, Any]) -> PullRequest | None:
    """The pull request of a ``pull_request``/``pull_request_target`` payload, else None.

    A fork is a head repository different from the base one (by id or by full name, either
    differing is enough); anything unknown (a deleted head repository, ``head.repo: null``, a
    missing base) is treated as a fork: no secrets. ``head.repo.fork`` is not used: it says
    whether the head repository is a fork of *anything*, true for same-repository pull
    requests in a repository that is itself a fork.
    """
    pr = event.get("pull_request")
    if not isinstance(pr, Mapping):
        return None
    number = pr.get("number", event.get("number"))
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise UsageError(
            "the pull_request event payload has no valid PR number",
            hint="GITHUB_EVENT_PATH must point at the runner's event.json",
        )
    head = _mapping(pr.get("head"))
    base = _mapping(pr.get("base"))
    head_repo = head.get("repo")
    base_repo = _mapping(base.get("repo"))
    base_name = _str(base_repo.get("full_name"))
    head_name = _str(head_repo.get("full_name")) if isinstance(head_repo, Mapping) else None
    fork = True
    if isinstance(head_repo, Mapping):
        head_id, base_id = head_repo.get("id"), base_repo.get("id")
        ids = isinstance(head_id, int) and isinstance(base_id, int)
        names = head_name is not None and base_name is not None
        same_ids = not ids or head_id == base_id
        same_names = not names or str(head_name).lower() == str(base_name).lower()
        fork = not ((ids or names) and same_ids and same_names)
    return PullRequest(
        number=number,
        head_sha=_str(head.get("sha")),
        head_ref=_str(head.get("ref")),
        base_sha=_str(base.get("sha")),
        base_ref=_str(base.get("ref")),
        head_repository=head_name,
        base_repository=base_name,
        fork=fork,
    )


def parse_event(text: str) -> dict[str, Any]:
    """The event payload JSON (an object)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"the GitHub event payload is not JSON: {exc}",
            hint="GITHUB_EVENT_PATH must point at the runner's event.json",
        ) from exc
    if not isinstance(data, dict):
        raise UsageError("the GitHub event payload is not a JSON object")
    return data


def parse_github_context(
    environ: Mapping[str, str], event_text: str | None, *, token: str | None = None
) -> GitHubContext:
    """The context from the runner's variables and the event payload text (if any)."""
    event = parse_event(event_text) if event_text else {}
    pull_request = parse_pull_request(event)
    event_name = environ.get("GITHUB_EVENT_NAME") or None
    if pull_request is None and event_name in PULL_REQUEST_EVENTS:
        # Never fall back to a branch run (whose config is trusted) on a pull request event.
        raise UsageError(
            f"a {event_name} event without its pull request in the event payload",
            hint="GITHUB_EVENT_PATH must point at the runner's event.json",
        )
    repository = environ.get("GITHUB_REPOSITORY") or None
    if repository is None and isinstance(event.get("repository"), Mapping):
        repository = _str(event["repository"].get("full_name"))
    return GitHubContext(
        repository=repository,
        api_url=(environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        event_name=event_name,
        sha=environ.get("GITHUB_SHA") or None,
        ref=environ.get("GITHUB_REF") or None,
        run_id=environ.get("GITHUB_RUN_ID") or None,
        server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        output_path=environ.get("GITHUB_OUTPUT") or None,
        summary_path=environ.get("GITHUB_STEP_SUMMARY") or None,
        event_path=environ.get("GITHUB_EVENT_PATH") or None,
        pull_request=pull_request,
        token=token,
    )


def in_github_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"

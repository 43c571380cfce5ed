"""The AWS CodeBuild environment, parsed into values (pure).

A pull request build has ``CODEBUILD_WEBHOOK_TRIGGER=pr/<n>`` (and usually
``CODEBUILD_SOURCE_VERSION=pr/<n>``); the commit is ``CODEBUILD_RESOLVED_SOURCE_VERSION``; the
repository comes from ``CODEBUILD_SOURCE_REPO_URL`` (https or ssh GitHub URL).

CodeBuild does not say whether a pull request comes from a fork (its webhook variables name
the base repository only), so every CodeBuild pull request starts as *unverified* and is
treated like a fork (`PullRequest.fork` True) until `soci_ci.ci.context.confirm_origin` has
asked GitHub which repository the head branch lives in. A ``PULL_REQUEST_*`` event without a
readable PR number is a pull request too (number 0, unverified).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from soci_ci.ci.github_env import PullRequest

_PR = re.compile(r"pr/(\d+)")
_REPO_URL = re.compile(
    r"^(?:https?://(?:[^@/]+@)?[^/]+/|git@[^:]+:|ssh://git@[^/]+/)"
    r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeBuildContext:
    build_id: str | None
    repository: str | None
    sha: str | None
    trigger: str | None
    event: str | None
    branch: str | None
    build_url: str | None
    pull_request: PullRequest | None


def pr_number(value: str | None) -> int | None:
    """123 for ``pr/123``; None for ``branch/...``, ``tag/...`` or nothing."""
    if not value:
        return None
    match = _PR.fullmatch(value.strip())
    return int(match.group(1)) if match else None


def repository_from_url(url: str | None) -> str | None:
    """``owner/name`` of a GitHub clone URL, or None if it is not one."""
    if not url:
        return None
    match = _REPO_URL.match(url.strip())
    if match is None:
        return None
    return f"{match.group('owner')}/{match.group('name')}"


def _branch(ref: str | None) -> str | None:
    if not ref:
        return None
    return ref.removeprefix("refs/heads/")


def in_codebuild(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("CODEBUILD_BUILD_ID"))


def parse_codebuild_context(environ: Mapping[str, str]) -> CodeBuildContext:
    trigger = environ.get("CODEBUILD_WEBHOOK_TRIGGER") or None
    number = pr_number(trigger) or pr_number(environ.get("CODEBUILD_SOURCE_VERSION"))
    sha = environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION") or None
    head_ref = _branch(environ.get("CODEBUILD_WEBHOOK_HEAD_REF"))
    event = environ.get("CODEBUILD_WEBHOOK_EVENT") or None
    pull_request = None
    if number is None and event is not None and event.upper().startswith("PULL_REQUEST"):
        number = 0  # a pull request whose number CodeBuild did not give: never trusted
    if number is not None:
        pull_request = PullRequest(
            number=number,
            head_sha=sha,
            head_ref=head_ref,
            base_ref=_branch(environ.get("CODEBUILD_WEBHOOK_BASE_REF")),
            fork=True,  # unverified until confirmed through the GitHub API
        )
    branch = head_ref
    if branch is None and trigger and trigger.startswith("branch/"):
        branch = trigger.removeprefix("branch/")
    return CodeBuildContext(
        build_id=environ.get("CODEBUILD_BUILD_ID") or None,
        repository=repository_from_url(environ.get("CODEBUILD_SOURCE_REPO_URL")),
        sha=sha,
        trigger=trigger,
        event=event,
        branch=branch,
        build_url=environ.get("CODEBUILD_PUBLIC_BUILD_URL")
        or environ.get("CODEBUILD_BUILD_URL")
        or None,
        pull_request=pull_request,
    )

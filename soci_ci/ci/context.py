"""Where a run happens: GitHub Actions, CodeBuild or a local shell, as one value (pure).

``fork`` means "untrusted pull request": on GitHub a head repository other than the base one
(or a deleted one); on CodeBuild every pull request until `confirm_origin` has checked with
GitHub that its head branch lives in the base repository (unknown = untrusted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from soci_ci.ci.codebuild_env import in_codebuild, parse_codebuild_context
from soci_ci.ci.github_env import (
    DEFAULT_API_URL,
    PullRequest,
    in_github_actions,
    parse_github_context,
)

GITHUB_FORK_REASON = (
    "fork pull request: no AWS credentials or secrets are available to forks, so nothing "
    "was built or measured; a maintainer can rerun it from a branch of this repository"
)
CODEBUILD_UNVERIFIED_REASON = (
    "CodeBuild pull request not confirmed to come from this repository (CodeBuild does not "
    "say whether it is a fork): treated as a fork, nothing was built or measured; give "
    "soci-ci a GitHub token (SOCI_CI_GITHUB_TOKEN_SECRET) so it can check"
)
CODEBUILD_FORK_REASON = (
    "fork pull request (its head branch is in another repository): nothing was built or "
    "measured, so the fork's code never ran with this project's role; a maintainer can rerun "
    "it from a branch of this repository"
)


class Provider(StrEnum):
    GITHUB = "github-actions"
    CODEBUILD = "codebuild"
    LOCAL = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class CiContext:
    provider: Provider
    repository: str | None = None
    pr_number: int | None = None
    fork: bool = False
    sha: str | None = None  # the commit the tags name: a pull request's head
    built_sha: str | None = None  # the commit checked out (on GitHub PRs: the merge commit)
    branch: str | None = None
    base_ref: str | None = None
    base_sha: str | None = None
    fork_reason: str = ""  # why the run is treated as a fork (shown in the report)
    run_id: str | None = None
    api_url: str = DEFAULT_API_URL
    output_path: str | None = None
    summary_path: str | None = None
    token: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        parts = [str(self.provider)]
        if self.repository:
            parts.append(self.repository)
        if self.pr_number is not None:
            parts.append(f"PR #{self.pr_number}" + (" (fork)" if self.fork else ""))
        if self.branch:
            parts.append(f"branch {self.branch}")
        if self.sha:
            parts.append(f"commit {self.sha[:12]}")
        return ", ".join(parts)


def detect_context(
    environ: Mapping[str, str], event_text: str | None, *, token: str | None
) -> CiContext:
    """The context from the environment (and the GitHub event payload text, if any)."""
    if in_github_actions(environ):
        gh = parse_github_context(environ, event_text, token=token)
        pr = gh.pull_request
        return CiContext(
            provider=Provider.GITHUB,
            repository=gh.repository,
            pr_number=pr.number if pr else None,
            fork=gh.is_fork_pr,
            fork_reason=GITHUB_FORK_REASON if gh.is_fork_pr else "",
            sha=gh.head_sha,
            built_sha=environ.get("GITHUB_SHA") or None,
            branch=gh.branch,
            base_ref=pr.base_ref if pr else None,
            base_sha=pr.base_sha if pr else None,
            run_id=gh.run_id,
            api_url=gh.api_url,
            output_path=gh.output_path,
            summary_path=gh.summary_path,
            token=token,
        )
    if in_codebuild(environ):
        cb = parse_codebuild_context(environ)
        unverified = cb.pull_request is not None and cb.pull_request.fork
        return CiContext(
            provider=Provider.CODEBUILD,
            repository=cb.repository,
            pr_number=cb.pull_request.number if cb.pull_request else None,
            fork=unverified,
            fork_reason=CODEBUILD_UNVERIFIED_REASON if unverified else "",
            sha=cb.sha,
            branch=cb.branch,
            base_ref=cb.pull_request.base_ref if cb.pull_request else None,
            run_id=cb.build_id,
            api_url=(environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            token=token,
        )
    return CiContext(
        provider=Provider.LOCAL,
        sha=environ.get("SOCI_CI_SHA") or None,
        branch=environ.get("SOCI_CI_BRANCH") or None,
        api_url=(environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        repository=environ.get("GITHUB_REPOSITORY") or None,
        token=token,
    )


PullRequestLookup = Callable[[str, int], PullRequest | None]


def confirm_origin(ctx: CiContext, lookup: PullRequestLookup) -> CiContext:
    """A CodeBuild pull request checked with GitHub: same repository -> trusted, else a fork.

    ``lookup(repository, number)`` answers the pull request as GitHub describes it (head and
    base repositories), or None when it cannot (no token, API error): then it stays a fork.
    """
    if ctx.provider is not Provider.CODEBUILD or not ctx.fork or not ctx.repository:
        return ctx
    if ctx.pr_number is None or ctx.pr_number <= 0:
        return ctx
    found = lookup(ctx.repository, ctx.pr_number)
    if found is None:
        return ctx
    same = (found.base_repository or "").lower() == ctx.repository.lower()
    if found.fork or not same:
        return replace(ctx, fork_reason=CODEBUILD_FORK_REASON)
    return replace(
        ctx,
        fork=False,
        fork_reason="",
        base_sha=found.base_sha,
        base_ref=found.base_ref or ctx.base_ref,
    )


_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def tag_values(ctx: CiContext) -> dict[str, str | None]:
    """Values of the tag templates ``{sha} {short_sha} {branch} {pr} {run_id}``."""
    branch = _TAG_BAD.sub("-", ctx.branch).strip("-.")[:100] if ctx.branch else None
    return {
        "sha": ctx.sha,
        "short_sha": ctx.sha[:7] if ctx.sha else None,
        "branch": branch or None,
        "pr": f"pr-{ctx.pr_number}" if ctx.pr_number is not None else None,
        "run_id": ctx.run_id and _TAG_BAD.sub("-", ctx.run_id),
    }


def expand_tags(templates: tuple[str, ...], ctx: CiContext) -> tuple[str, ...]:
    """Tags with every template value known; ``latest`` when none is left."""
    values = tag_values(ctx)
    out: list[str] = []
    for template in templates:
        names = re.findall(r"\{(\w+)\}", template)
        if any(values.get(name) is None for name in names):
            continue
        tag = template
        for name in names:
            tag = tag.replace("{" + name + "}", values[name] or "")
        if tag and tag not in out:
            out.append(tag[:128])
    return tuple(out) or ("latest",)

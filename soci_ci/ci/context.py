"""Where a run happens: GitHub Actions, CodeBuild or a local shell, as one value (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from soci_ci.ci.codebuild_env import in_codebuild, parse_codebuild_context
from soci_ci.ci.github_env import DEFAULT_API_URL, in_github_actions, parse_github_context


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
            sha=gh.head_sha,
            built_sha=environ.get("GITHUB_SHA") or None,
            branch=gh.branch,
            base_ref=pr.base_ref if pr else None,
            run_id=gh.run_id,
            api_url=gh.api_url,
            output_path=gh.output_path,
            summary_path=gh.summary_path,
            token=token,
        )
    if in_codebuild(environ):
        cb = parse_codebuild_context(environ)
        return CiContext(
            provider=Provider.CODEBUILD,
            repository=cb.repository,
            pr_number=cb.pull_request.number if cb.pull_request else None,
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

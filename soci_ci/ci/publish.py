"""Hands the run's report to the CI: job summary, step outputs, annotations, PR comment, JUnit.

The edge of the report: files and the GitHub API. Each channel is independent; a failed
comment never hides the summary. A fork pull request gets no comment attempt (its token is
read-only); a 403 elsewhere is explained as a warning and the run stays as it was.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from soci_ci.ci.context import CiContext, Provider
from soci_ci.ci.github_output import Level, append_file, format_annotation, format_outputs
from soci_ci.ci.run_report import (
    RunSummary,
    StepStatus,
    Verdict,
    comment_marker,
    render_junit,
    render_markdown,
    step_outputs,
)
from soci_ci.ci.workflow_commands import neutralize
from soci_ci.errors import GitHubError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishOptions:
    comment: bool = True
    summary: bool = True
    junit: Path | None = None
    config_id: str = "default"
    config_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    comment_url: str | None
    comment_note: str
    markdown: str
    comment_error: GitHubError | None = None


def _comment(ctx: CiContext, body: str, marker: str) -> tuple[str | None, str]:
    if ctx.pr_number is None:
        return None, "not a pull request"
    if ctx.fork:
        return None, "fork pull request: read-only token, no comment"
    if not ctx.token:
        return None, "no GitHub token"
    if not ctx.repository:
        return None, "repository unknown"
    from soci_ci.ci.github_api import (  # noqa: PLC0415 - requests only when commenting
        CommentOutcome,
        GitHubClient,
        upsert_comment,
    )

    client = GitHubClient(api_url=ctx.api_url, token=ctx.token)
    result = upsert_comment(
        client, repository=ctx.repository, number=ctx.pr_number, body=body, marker=marker
    )
    if result.outcome is CommentOutcome.FORBIDDEN:
        return None, (
            f"{result.message}; grant `permissions: pull-requests: write` "
            "(fork pull requests cannot comment)"
        )
    return result.url, f"comment {result.outcome}"


def publish(
    summary: RunSummary,
    ctx: CiContext,
    options: PublishOptions,
    *,
    stream: TextIO | None = None,
) -> Published:
    out = sys.stdout if stream is None else stream  # bound per call: stdout may be replaced
    marker = comment_marker(ctx.repository, options.config_id)
    markdown = render_markdown(summary, marker=marker)
    comment_url, note = (None, "disabled (report.comment: false)")
    error: GitHubError | None = None
    if options.comment:
        try:
            comment_url, note = _comment(ctx, markdown, marker)
        except GitHubError as exc:
            error, note = exc, f"PR comment failed: {exc.message}"
    log.info("report: %s", note)
    if options.junit is not None:
        options.junit.parent.mkdir(parents=True, exist_ok=True)
        options.junit.write_text(render_junit(summary), encoding="utf-8")
        log.info("report: JUnit written to %s", options.junit)
    if ctx.provider is Provider.GITHUB:
        if options.summary and ctx.summary_path:
            append_file(ctx.summary_path, render_markdown(summary))
        if ctx.output_path:
            append_file(
                ctx.output_path, format_outputs(step_outputs(summary, comment_url=comment_url))
            )
        for line in _annotations(summary, options, note):
            print(line, file=out)
    else:
        out.write(neutralize(render_markdown(summary)))
    out.flush()
    return Published(
        comment_url=comment_url, comment_note=note, markdown=markdown, comment_error=error
    )


def _annotations(summary: RunSummary, options: PublishOptions, note: str) -> list[str]:
    lines = []
    if summary.verdict is Verdict.FAIL:
        lines.append(
            format_annotation(
                Level.ERROR, summary.reason, title="soci-ci: check failed", file=options.config_file
            )
        )
    elif summary.verdict is Verdict.NEUTRAL and any(
        s.status is StepStatus.SKIPPED and s.detail == "fork" for s in summary.steps
    ):
        lines.append(format_annotation(Level.NOTICE, summary.reason, title="soci-ci: neutral"))
    if "403" in note or "failed" in note:
        lines.append(format_annotation(Level.WARNING, note, title="soci-ci: no PR comment"))
    return lines

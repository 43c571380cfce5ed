"""Report publishing without the network: job summary, outputs, annotations, stdout, JUnit."""

from __future__ import annotations

import io
from pathlib import Path

from soci_ci.ci.context import CiContext, Provider
from soci_ci.ci.github_api import _next_link, limit_body
from soci_ci.ci.publish import PublishOptions, publish
from soci_ci.ci.run_report import RunSummary, StepRecord, StepStatus, Verdict

FAILED = RunSummary(
    steps=(
        StepRecord(name="build", status=StepStatus.RAN, detail="pushed r/app@sha256:aa"),
        StepRecord(name="verify", status=StepStatus.FAILED, detail="span 3: bytes differ"),
    ),
    verdict=Verdict.FAIL,
    reason="the verify step failed: span 3: bytes differ, 100%",
)


def test_github_channels_without_a_pull_request(tmp_path: Path) -> None:
    ctx = CiContext(
        provider=Provider.GITHUB,
        repository="o/r",
        output_path=str(tmp_path / "out"),
        summary_path=str(tmp_path / "summary"),
        token="ghs_x",
    )
    stream = io.StringIO()
    published = publish(
        FAILED,
        ctx,
        PublishOptions(junit=tmp_path / "j" / "junit.xml", config_file=".soci-ci.yml"),
        stream=stream,
    )
    assert published.comment_note == "not a pull request"
    assert published.comment_url is None
    assert stream.getvalue() == (
        "::error file=.soci-ci.yml,title=soci-ci%3A check failed::"
        "the verify step failed: span 3: bytes differ, 100%25\n"
    )
    summary = (tmp_path / "summary").read_text()
    assert summary.startswith("## soci-ci: SOCI cold-start report\n\n**Verdict:** ❌ fail")
    assert "<!-- soci-ci report" not in summary
    assert published.markdown.startswith("<!-- soci-ci report: o/r (default) -->\n## soci-ci")
    assert "verdict<<ghadelimiter_" in (tmp_path / "out").read_text()
    assert '<failure message="span 3: bytes differ">' in (tmp_path / "j" / "junit.xml").read_text()


def test_local_prints_the_report(tmp_path: Path) -> None:
    stream = io.StringIO()
    publish(FAILED, CiContext(provider=Provider.LOCAL), PublishOptions(), stream=stream)
    assert stream.getvalue().startswith("## soci-ci: SOCI cold-start report\n")
    assert "| verify | ❌ failed | span 3: bytes differ |" in stream.getvalue()


def test_fork_never_calls_the_api() -> None:
    ctx = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=3, fork=True, token="t")
    published = publish(FAILED, ctx, PublishOptions(), stream=io.StringIO())
    assert published.comment_note == "fork pull request: read-only token, no comment"


def test_limit_body_keeps_the_marker() -> None:
    body = "<!-- m -->\n" + "a" * 70_000 + "\n"
    cut = limit_body(body, limit=1000)
    assert len(cut) <= 1000
    assert cut.startswith("<!-- m -->\naaa")
    assert cut.endswith("(truncated: the full report is in the job summary)\n")
    assert limit_body("short") == "short"


def test_next_link() -> None:
    header = '<https://x/r?page=2>; rel="next", <https://x/r?page=5>; rel="last"'
    assert _next_link(header) == "https://x/r?page=2"
    assert _next_link('<https://x/r?page=1>; rel="prev"') is None
    assert _next_link(None) is None

"""What `soci-ci run` did, rendered for people and CI systems (pure).

The step table (ran / skipped and why / failed), the digests, the probe's phase table when
there is one, and the verdict, as Markdown for the PR comment and the job summary; the same
steps as JUnit XML for a CodeBuild report group; and the step outputs. Text that comes from
users (branch names, messages, references) is escaped.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from xml.sax.saxutils import escape as xml_escape

from soci_ci.report.markdown import render_lazy_start
from soci_ci.soci.verify import LazyStartSummary


class StepStatus(StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"
    FAILED = "failed"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - not a password
    FAIL = "fail"
    NEUTRAL = "neutral"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    name: str
    status: StepStatus
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    steps: tuple[StepRecord, ...]
    verdict: Verdict
    reason: str
    image_ref: str | None = None
    image_digest: str | None = None
    soci_image_ref: str | None = None
    soci_index_digest: str | None = None
    medians: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    probe_markdown: str | None = None
    gate_markdown: str | None = None
    startup_markdown: str | None = None  # `soci-ci startup`'s section (soci_ci/startup/markdown.py)
    gate_junit: str | None = None  # the gate's JUnit (one case per threshold), merged in
    context_line: str = ""
    lazy_start: LazyStartSummary | None = None  # from verify
    notes: tuple[str, ...] = ()  # e.g. trusted settings ignored from a pull request's config


_MD_SPECIAL = "\\`*_[]<>|~"
_ICON = {StepStatus.RAN: "✅", StepStatus.SKIPPED: "⏭️", StepStatus.FAILED: "❌"}
_VERDICT = {
    Verdict.PASS: "✅ pass",
    Verdict.FAIL: "❌ fail",
    Verdict.NEUTRAL: "⚪ neutral",
    Verdict.ERROR: "❌ error",
}


def _attr(value: str) -> str:
    return '"' + xml_escape(value, {'"': "&quot;", "\n": "&#10;"}) + '"'


def escape_markdown(text: str) -> str:
    """Inline text safe in GitHub Markdown and table cells (no HTML, no links, one line)."""
    out = []
    for char in " ".join(text.split()):
        if char in _MD_SPECIAL:
            out.append("&#124;" if char == "|" else "\\" + char)
        elif char == "&":
            out.append("&amp;")
        else:
            out.append(char)
    return "".join(out)


def comment_marker(repository: str | None, config_id: str = "default") -> str:
    """The hidden marker of the sticky comment: one per repository and config."""
    return f"<!-- soci-ci report: {repository or 'local'} ({config_id}) -->"


def render_markdown(summary: RunSummary, *, marker: str | None = None) -> str:
    lines = [marker] if marker else []  # first line: how the sticky comment is found
    lines += ["## soci-ci: SOCI cold-start report", ""]
    lines.append(f"**Verdict:** {_VERDICT[summary.verdict]} — {escape_markdown(summary.reason)}")
    if summary.context_line:
        lines += ["", escape_markdown(summary.context_line)]
    if summary.notes:
        lines += [""] + [f"- ⚠️ {escape_markdown(note)}" for note in summary.notes]
    lines += ["", "| step | status | details |", "|---|---|---|"]
    for step in summary.steps:
        took = f" ({step.seconds:.1f} s)" if step.status is StepStatus.RAN else ""
        lines.append(
            f"| {step.name} | {_ICON[step.status]} {step.status}{took} | "
            f"{escape_markdown(step.detail) or '—'} |"
        )
    digests = [
        ("image", summary.image_ref),
        ("SOCI-enabled image", summary.soci_image_ref),
        ("SOCI index", summary.soci_index_digest),
    ]
    present = [(k, v) for k, v in digests if v]
    if present:
        lines += ["", "| artifact | reference |", "|---|---|"]
        lines += [f"| {k} | `{v.replace('`', '')}` |" for k, v in present]
    if summary.lazy_start is not None:
        lines += ["", *render_lazy_start(summary.lazy_start)]
    if summary.startup_markdown:
        lines += ["", summary.startup_markdown.strip()]
    if summary.probe_markdown and not summary.gate_markdown:  # the gate's report has it
        lines += ["", "### Cold starts", "", summary.probe_markdown.strip()]
    if summary.gate_markdown:
        lines += ["", "### Thresholds", "", summary.gate_markdown.strip()]
    return "\n".join(lines) + "\n"


def _gate_suites(text: str | None) -> list[ET.Element]:
    if not text:
        return []
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own gate's output, not remote input
    except ET.ParseError:
        return []
    return [root] if root.tag == "testsuite" else list(root.iter("testsuite"))


def render_junit(summary: RunSummary, *, suite: str = "soci-ci") -> str:
    """One test case per pipeline step (failed -> <failure>, skipped -> <skipped>), plus the
    gate's suites (one case per threshold) when the gate ran."""
    failures = sum(1 for s in summary.steps if s.status is StepStatus.FAILED)
    skipped = sum(1 for s in summary.steps if s.status is StepStatus.SKIPPED)
    total = sum(s.seconds for s in summary.steps)
    gate = _gate_suites(summary.gate_junit)
    tests = len(summary.steps) + sum(int(g.get("tests", "0")) for g in gate)
    all_failures = failures + sum(int(g.get("failures", "0")) for g in gate)
    all_skipped = skipped + sum(int(g.get("skipped", "0")) for g in gate)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={_attr(suite)} tests="{tests}" '
        f'failures="{all_failures}" skipped="{all_skipped}" time="{total:.3f}">',
        f'  <testsuite name={_attr(suite + ".pipeline")} tests="{len(summary.steps)}" '
        f'failures="{failures}" skipped="{skipped}" time="{total:.3f}">',
    ]
    for step in summary.steps:
        head = (
            f"    <testcase classname={_attr(suite + '.pipeline')} "
            f'name={_attr(step.name)} time="{step.seconds:.3f}"'
        )
        if step.status is StepStatus.RAN:
            lines.append(head + "/>")
            continue
        tag = "failure" if step.status is StepStatus.FAILED else "skipped"
        lines.append(head + ">")
        detail = step.detail
        lines.append(f"      <{tag} message={_attr(detail)}>{xml_escape(detail)}</{tag}>")
        lines.append("    </testcase>")
    lines.append("  </testsuite>")
    for element in gate:
        ET.indent(element, space="  ", level=1)
        lines.append("  " + ET.tostring(element, encoding="unicode").rstrip())
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def step_outputs(summary: RunSummary, *, comment_url: str | None) -> dict[str, str]:
    """The action's outputs (all strings; structured ones as JSON)."""
    return {
        "verdict": str(summary.verdict),
        "reason": summary.reason,
        "image-ref": summary.image_ref or "",
        "image-digest": summary.image_digest or "",
        "soci-image-ref": summary.soci_image_ref or "",
        "soci-index-digest": summary.soci_index_digest or "",
        "medians": json.dumps(summary.medians, sort_keys=True),
        "steps": json.dumps(
            [{"name": s.name, "status": str(s.status), "detail": s.detail} for s in summary.steps]
        ),
        "comment-url": comment_url or "",
    }

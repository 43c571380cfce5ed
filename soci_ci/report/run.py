"""What `soci-ci run` did, rendered for people and CI systems (pure).

The step table (ran / skipped and why / failed), the digests, the probe's phase table when
there is one, the gate's report, and the verdict, as Markdown for the PR comment and the job
summary; the same steps as JUnit XML for a CodeBuild report group; and the action's outputs.
Text that comes from users, images, registries or APIs goes through the one escaper.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape as xml_escape

from soci_ci.app.run_model import RunSummary, StepStatus
from soci_ci.gate.verdict import Verdict
from soci_ci.report.comment import fit, md_code, md_text
from soci_ci.report.junit import gate_suite_lines
from soci_ci.report.markdown import ReportInput, gate_lines, render_lazy_start
from soci_ci.report.probe import render as render_probe

_ICON = {StepStatus.RAN: "✅", StepStatus.SKIPPED: "⏭️", StepStatus.FAILED: "❌"}
_VERDICT = {
    Verdict.PASS: "✅ pass",
    Verdict.FAIL: "❌ fail",
    Verdict.NEUTRAL: "⚪ neutral",
    Verdict.ERROR: "❌ error",
}


def _attr(value: str) -> str:
    return '"' + xml_escape(value, {'"': "&quot;", "\n": "&#10;"}) + '"'


def render_markdown(summary: RunSummary, *, marker: str | None = None) -> str:
    lines = [marker] if marker else []  # first line: how the sticky comment is found
    lines += ["## soci-ci: SOCI cold-start report", ""]
    lines.append(f"**Verdict:** {_VERDICT[summary.verdict]} — {md_text(summary.reason)}")
    if summary.context_line:
        lines += ["", md_text(summary.context_line)]
    if summary.notes:
        lines += [""] + [f"- ⚠️ {md_text(note)}" for note in summary.notes]
    lines += ["", "| step | status | details |", "|---|---|---|"]
    for step in summary.steps:
        took = f" ({step.seconds:.1f} s)" if step.status is StepStatus.RAN else ""
        lines.append(
            f"| {step.name} | {_ICON[step.status]} {step.status}{took} | "
            f"{md_text(step.detail) or '—'} |"
        )
    digests = [
        ("image", summary.image_ref),
        ("SOCI-enabled image", summary.soci_image_ref),
        ("SOCI index", summary.soci_index_digest),
    ]
    present = [(k, v) for k, v in digests if v]
    body: list[str] = []
    if present:
        body += ["", "| artifact | reference |", "|---|---|"]
        body += [f"| {k} | {md_code(v)} |" for k, v in present]
    if summary.lazy_start is not None:
        body += ["", *render_lazy_start(summary.lazy_start)]
    if summary.startup_markdown:
        body += ["", summary.startup_markdown.strip()]
    gate = summary.gate
    if summary.probe is not None and gate is None:  # the gate's report has the probe's table
        body += ["", "### Cold starts", "", render_probe(summary.probe).strip()]
    if gate is not None:
        report = ReportInput(
            name=gate.options.name,
            outcome=gate.outcome,
            result=gate.result,
            baseline=gate.baseline,
            index_digest=gate.options.index_digest,
            chart=gate.options.chart,
        )
        body += ["", "### Thresholds", "", *gate_lines(report)]
    return fit(lines, body)


def render_junit(summary: RunSummary, *, suite: str = "soci-ci") -> str:
    """One test case per pipeline step (failed -> <failure>, skipped -> <skipped>), plus the
    gate's suites (one case per threshold) when the gate ran."""
    failures = sum(1 for s in summary.steps if s.status is StepStatus.FAILED)
    skipped = sum(1 for s in summary.steps if s.status is StepStatus.SKIPPED)
    total = sum(s.seconds for s in summary.steps)
    gate = summary.gate.outcome if summary.gate is not None else None
    gate_lines_, gate_counts = gate_suite_lines(gate, indent="  ") if gate else ([], (0, 0, 0))
    tests = len(summary.steps) + gate_counts[0]
    all_failures = failures + gate_counts[1]
    all_skipped = skipped + gate_counts[2]
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
    lines += gate_lines_
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
        "medians": json.dumps(
            {arm: dict(phases) for arm, phases in summary.medians.items()}, sort_keys=True
        ),
        "steps": json.dumps(
            [{"name": s.name, "status": str(s.status), "detail": s.detail} for s in summary.steps]
        ),
        "comment-url": comment_url or "",
    }

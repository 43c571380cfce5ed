"""The PR comment / step summary: verdict first, phase tables, deltas, chart, digests.

Everything user-supplied (image names, failure reasons, labels) goes through `md_escape`.
The body stays under GitHub's 65,536-character limit; truncation drops the detail tables
and keeps the marker, the verdict and its reasons.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from soci_ci.gate.baseline import Baseline
from soci_ci.gate.verdict import CheckStatus, GateOutcome, Verdict
from soci_ci.probe.model import Phase, ProbeResult
from soci_ci.soci.verify import LazyStartSummary

LIMIT = 65_000  # GitHub's limit is 65,536; keep a margin
ICON = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.NEUTRAL: "⚪"}
STATUS = {
    CheckStatus.PASS: "✅ pass",
    CheckStatus.FAIL: "❌ fail",
    CheckStatus.INCONCLUSIVE: "⚠️ inconclusive",
    CheckStatus.SKIPPED: "➖ skipped",
}
PHASES = (Phase.PROVISIONING, Phase.PULL, Phase.START, Phase.APP_READY, Phase.TOTAL)


def md_escape(text: str) -> str:
    """Neutralise Markdown and HTML in user-supplied text (one line)."""
    text = html.escape(" ".join(text.split()), quote=True)
    return re.sub(r"([\\`*_{}\[\]()#+!|~>])", r"\\\1", text)


def marker(name: str) -> str:
    return f"<!-- soci-ci:{re.sub(r'[^A-Za-z0-9._/-]', '_', name)} -->"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInput:
    name: str  # the marker / config name
    outcome: GateOutcome
    result: ProbeResult | None = None
    baseline: Baseline | None = None
    index_digest: str | None = None
    chart: bool = True


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _head(data: ReportInput) -> list[str]:
    out = data.outcome
    lines = [
        marker(data.name),
        f"## {ICON[out.verdict]} soci-ci: {out.verdict}",
        "",
    ]
    lines += [f"- {md_escape(r)}" for r in out.reasons]
    if out.recommendation:
        lines += ["", f"**Recommendation:** {md_escape(out.recommendation)}"]
    return lines


def _phase_table(result: ProbeResult) -> list[str]:
    lines = [
        "### Cold start per arm (median seconds, n = successful runs)",
        "",
        "| arm | n | " + " | ".join(str(p) for p in PHASES) + " | total p90 |",
        "|---|---:|" + "---:|" * (len(PHASES) + 1),
    ]
    for arm in result.arms:
        cells = [_fmt(arm.stats[p].median if p in arm.stats else None) for p in PHASES]
        total = arm.stats.get(Phase.TOTAL)
        n = total.n if total is not None else 0
        p90 = _fmt(None if total is None else total.p90)
        lines.append(f"| {md_escape(str(arm.name))} | {n} | " + " | ".join(cells) + f" | {p90} |")
    return lines


def _checks(out: GateOutcome) -> list[str]:
    lines = ["### Checks", "", "| status | check | detail |", "|---|---|---|"]
    lines += [
        f"| {STATUS[c.status]} | {md_escape(c.name)} | {md_escape(c.message)} |" for c in out.checks
    ]
    if out.findings:
        lines.append("")
    lines += [f"- **Finding:** {md_escape(f)}" for f in out.findings]
    return lines


def _chart(result: ProbeResult) -> list[str]:
    arms = [a for a in result.arms if Phase.TOTAL in a.stats and a.stats[Phase.TOTAL].median]
    if not arms:
        return []
    names = ", ".join(f'"{a.name}"' for a in arms)
    values = ", ".join(f"{a.stats[Phase.TOTAL].median:.2f}" for a in arms)
    top = max(a.stats[Phase.TOTAL].median or 0.0 for a in arms)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "Median total cold start (s)"',
        f"    x-axis [{names}]",
        f'    y-axis "seconds" 0 --> {top * 1.2:.0f}',
        f"    bar [{values}]",
        "```",
    ]


def _details(data: ReportInput) -> list[str]:
    lines: list[str] = []
    result = data.result
    if result is not None:
        lines += ["### Images", ""]
        for arm in result.arms:
            digest = f" `{md_escape(arm.digest)}`" if arm.digest else ""
            lines.append(f"- {md_escape(str(arm.name))}: {md_escape(arm.image)}{digest}")
        if data.index_digest:
            lines.append(f"- SOCI index: `{md_escape(data.index_digest)}`")
        failures = [r for a in result.arms for r in a.runs if not r.ok]
        if failures:
            lines += ["", "### Failed runs", ""]
            for run in failures:
                why = md_escape(run.failure_reason or str(run.failure_kind or "unknown"))
                lines.append(f"- {md_escape(str(run.arm))} #{run.index}: {why}")
    lines += ["", "### Method", ""]
    if data.baseline is not None:
        lines.append(f"- Baseline: {md_escape(data.baseline.label)}")
    else:
        lines.append("- Baseline: none")
    if data.outcome.test:
        lines.append(f"- Test: {md_escape(data.outcome.test)}")
    if result is not None:
        lines.append(
            f"- Probe: {md_escape(result.run_id)} in {md_escape(result.region or '?')} / "
            f"{md_escape(result.cluster)}"
        )
    return lines


def render_markdown(data: ReportInput) -> str:
    """The whole comment; never longer than `LIMIT` characters."""
    head = _head(data)
    body: list[str] = [""]
    if data.result is not None:
        body += [*_phase_table(data.result), ""]
        if data.chart:
            body += [*_chart(data.result), ""]
    body += [*_checks(data.outcome), "", *_details(data)]
    text = "\n".join(head + body) + "\n"
    if len(text) <= LIMIT:
        return text
    note = "\n\n_Report truncated: the full details are in the job log and JUnit file._\n"
    short = "\n".join(head)
    room = LIMIT - len(short) - len(note)
    if room < 0:
        return short[: LIMIT - len(note)] + note
    rest = "\n".join(body)
    cut = rest[:room].rsplit("\n", 1)[0]
    return short + cut + note


def _size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def render_lazy_start(summary: LazyStartSummary) -> list[str]:
    """What SOCI gains on this image, from `verify` alone (no AWS): a section of the comment."""
    layers = max(summary.indexed_bytes, 1)

    def share(n: float) -> str:
        return f"{_size(n)} ({100 * n / layers:.1f} % of the indexed layers)"

    change = summary.image_bytes_change
    if change is None:
        vs_base = "no baseline"
    else:
        vs_base = f"{'+' if change >= 0 else '-'}{_size(abs(change))} vs the base branch"
    return [
        "### Lazy loading (from verify)",
        "",
        "| | |",
        "|---|---|",
        f"| deploy | {md_escape(summary.image)} |",
        f"| digest | {md_escape(summary.digest)} |",
        f"| layers indexed / skipped | {summary.layers_indexed} / {summary.layers_skipped} |",
        f"| files in indexed layers | {summary.files} |",
        f"| fetched to read one file, median | {share(summary.median_fetch)} |",
        f"| fetched to read one file, p90 | {share(summary.p90_fetch)} |",
        f"| image size (compressed layers) | {_size(summary.image_bytes)} ({vs_base}) |",
    ]

"""The startup section of the PR comment (pure): figures vs the base branch, the largest files,
the recommendation, the labelled estimate (beside the Fargate probe's medians when it ran) and
the exact threshold checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from soci_ci.startup.table import human
from soci_ci.startup.thresholds import LimitCheck, Outcome

MAX_FILES = 5
_ICON = {Outcome.PASS: "✅", Outcome.FAIL: "❌", Outcome.NOT_EVALUATED: "➖"}


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.endswith("_bytes"):
        return human(int(value))
    if metric == "fetch_percent":
        return f"{value:.1f} %"
    return f"{int(value)}"


def _change(value: float, base: float | None) -> str:
    if base is None:
        return "–"
    if base == 0:
        return "±0" if value == 0 else "new"
    return f"{100 * (value - base) / base:+.1f} %"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


ROWS = (
    ("image_bytes", "image (compressed)"),
    ("fetch_bytes", "fetched by a lazy start"),
    ("fetch_requests", "fetch requests"),
    ("fetch_percent", "share of the image a lazy start needs"),
    ("startup_files", "files read before ready"),
    ("startup_file_bytes", "bytes of those files"),
)


def render_startup(
    report: Mapping[str, Any],
    *,
    baseline: Mapping[str, float] | None = None,
    baseline_label: str = "base",
    checks: Sequence[LimitCheck] = (),
    measured: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    totals = report.get("totals") or {}
    lines = [
        f"### Startup working set: `{_md(str(report.get('image', '?')))}`",
        "",
        "Recorded on the local Docker engine (exact, no AWS): every file the container read "
        f"before it was ready ({_md(str((report.get('recording') or {}).get('ready_by')))}), "
        "mapped to the spans a lazy SOCI start fetches.",
        "",
    ]
    if report.get("computed_locally"):
        lines += [
            "**Local image** (from the Docker engine, not a registry): the compressed sizes, "
            "layer digests and spans below are **computed locally** (each layer gzip-compressed "
            "as a push would, zTOCs built by soci-ci), not read from a registry.",
            "",
        ]
    lines += [
        f"| | this run | {_md(baseline_label)} | change |",
        "|---|---:|---:|---:|",
    ]
    for key, label in ROWS:
        value = totals.get(key)
        base = None if baseline is None else baseline.get(key)
        if not isinstance(value, int | float):
            continue
        lines.append(
            f"| {label} | {_cell(key, value)} | {_cell(key, base)} | {_change(value, base)} |"
        )
    files = sorted(report.get("files") or [], key=lambda f: -int(f.get("size", 0)))[:MAX_FILES]
    if files:
        lines += ["", "Largest files read at start:"]
        lines += [f"- `{_md(str(f['path']))}` {human(int(f['size']))}" for f in files]
    estimate = report.get("estimate") or {}
    if estimate:
        w, s = estimate["without_soci"], estimate["with_soci"]
        lines += ["", f"**{_md(str(estimate['recommendation']))}**", ""]
        lines += [
            "Estimate (a model calibrated on published Fargate figures, not a measurement; "
            "docs/startup.md):",
            "",
            "| | created → running (s) | running → ready (s) | total (s) |"
            + (" measured total (s) | error |" if measured else ""),
            "|---|---:|---:|---:|" + ("---:|---:|" if measured else ""),
        ]
        for arm, label, values in (("no-soci", "without SOCI", w), ("soci", "with SOCI", s)):
            row = (
                f"| {label} | {values['created_to_running']:.1f} | "
                f"{values['running_to_ready']:.1f} | {values['total']:.1f} |"
            )
            if measured:
                real = (measured.get(arm) or {}).get("total")
                if real is not None:
                    row += f" {real:.1f} | {values['total'] - real:+.1f} s |"
                else:
                    row += " – | – |"
            lines.append(row)
    order = report.get("layer_order") or {}
    if order.get("advice"):
        lines += ["", f"Layer order (suggestion only): {_md(str(order['advice']))}"]
    if checks:
        lines += ["", "| threshold | result |", "|---|---|"]
        lines += [f"| {_ICON[c.outcome]} `{c.name}` | {_md(c.message)} |" for c in checks]
    return "\n".join(lines) + "\n"

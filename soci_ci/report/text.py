"""Terminal table of the gate checks."""

from __future__ import annotations

from soci_ci.gate.verdict import GateOutcome


def render_text(outcome: GateOutcome) -> str:
    rows = [(str(c.status).upper(), c.name, c.message) for c in outcome.checks]
    width = max([len(r[1]) for r in rows] + [5])
    lines = [f"{'STATUS':<12}  {'CHECK':<{width}}  DETAIL"]
    lines += [f"{s:<12}  {n:<{width}}  {m}" for s, n, m in rows]
    lines += [f"finding: {f}" for f in outcome.findings]
    if outcome.recommendation:
        lines.append(f"recommendation: {outcome.recommendation}")
    lines.append(f"verdict: {outcome.verdict} ({outcome.reason})")
    return "\n".join(lines) + "\n"

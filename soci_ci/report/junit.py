"""JUnit XML of the gate: one testcase per threshold; stable output (no timestamps, fixed order).

`render_junit` is the gate's own file (`soci-ci gate --junit`); `gate_suite_lines` is the
same suite, for the run's JUnit (``soci_ci.report.run``).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from soci_ci.gate.verdict import CheckStatus, GateOutcome

SUITE = "soci-ci gate"


def _counts(outcome: GateOutcome) -> tuple[int, int, int]:
    checks = outcome.checks
    failures = sum(c.status is CheckStatus.FAIL for c in checks)
    skipped = sum(c.status in (CheckStatus.SKIPPED, CheckStatus.INCONCLUSIVE) for c in checks)
    return len(checks), failures, skipped


def gate_suite_lines(
    outcome: GateOutcome, *, indent: str = "", suite: str = SUITE
) -> tuple[list[str], tuple[int, int, int]]:
    """The ``<testsuite>`` of the checks, each line prefixed with ``indent``; and its
    (tests, failures, skipped) counts."""
    tests, failures, skipped = _counts(outcome)
    lines = [
        f'<testsuite name={quoteattr(suite)} tests="{tests}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">',
    ]
    for check in outcome.checks:
        lines.append(
            f'  <testcase classname={quoteattr(suite)} name={quoteattr(check.name)} time="0">'
        )
        if check.status is CheckStatus.PASS:
            lines.append(f"    <system-out>{escape(check.message)}</system-out>")
        elif check.status is CheckStatus.FAIL:
            lines.append(
                f'    <failure message={quoteattr(check.message)} type="threshold">'
                f"{escape(check.message)}</failure>"
            )
        else:
            lines.append(f"    <skipped message={quoteattr(check.message)}/>")
        lines.append("  </testcase>")
    lines.append("</testsuite>")
    return [indent + line for line in lines], (tests, failures, skipped)


def render_junit(outcome: GateOutcome, *, suite: str = SUITE) -> str:
    suite_lines, (tests, failures, skipped) = gate_suite_lines(outcome, indent="  ", suite=suite)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(suite)} tests="{tests}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">',
        *suite_lines,
        "</testsuites>",
    ]
    return "\n".join(lines) + "\n"

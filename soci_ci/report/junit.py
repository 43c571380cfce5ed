"""JUnit XML: one testcase per threshold; stable output (no timestamps, fixed order)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from soci_ci.gate.verdict import CheckStatus, GateOutcome


def render_junit(outcome: GateOutcome, *, suite: str = "soci-ci gate") -> str:
    checks = outcome.checks
    failures = sum(c.status is CheckStatus.FAIL for c in checks)
    skipped = sum(c.status in (CheckStatus.SKIPPED, CheckStatus.INCONCLUSIVE) for c in checks)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(suite)} tests="{len(checks)}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">',
        f'  <testsuite name={quoteattr(suite)} tests="{len(checks)}" '
        f'failures="{failures}" errors="0" skipped="{skipped}">',
    ]
    for check in checks:
        head = f"    <testcase classname={quoteattr(suite)} name={quoteattr(check.name)}"
        if check.status is CheckStatus.PASS:
            lines.append(head + ' time="0">')
            lines.append(f"      <system-out>{escape(check.message)}</system-out>")
        elif check.status is CheckStatus.FAIL:
            lines.append(head + ' time="0">')
            lines.append(
                f'      <failure message={quoteattr(check.message)} type="threshold">'
                f"{escape(check.message)}</failure>"
            )
        else:
            lines.append(head + ' time="0">')
            lines.append(f"      <skipped message={quoteattr(check.message)}/>")
        lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>"]
    return "\n".join(lines) + "\n"

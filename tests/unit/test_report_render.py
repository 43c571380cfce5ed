from __future__ import annotations

import pytest

from soci_ci.config.model import AbsoluteLimit, Thresholds
from soci_ci.gate.baseline import Baseline
from soci_ci.gate.thresholds import evaluate
from soci_ci.gate.verdict import CheckResult, CheckStatus, GateOutcome, Verdict
from soci_ci.probe.model import ArmName, Phase
from soci_ci.report.comment import LIMIT
from soci_ci.report.junit import render_junit
from soci_ci.report.markdown import ReportInput, render_markdown
from soci_ci.report.text import render_text
from tests.support.golden import check_golden
from tests.support.probe_results import make_arm, make_result


def _scenario() -> ReportInput:
    plain = make_arm(ArmName.NO_SOCI, [40, 41, 42, 43, 44])
    soci = make_arm(
        ArmName.SOCI,
        [20, 21, 22, 23],
        failed=1,
        image="example.test/<img>|x@sha256:" + "b" * 64,
    )
    result = make_result(plain, soci)
    limit = AbsoluteLimit(phase=Phase.TOTAL, stat="p50", arm=ArmName.SOCI, max_seconds=30)
    base = Baseline(label="main@0123456789ab (2026-11-27T10:00:00+00:00)", samples=(20, 21, 22))
    outcome = evaluate(result, Thresholds(absolute=(limit,)), base)
    return ReportInput(
        name="default",
        outcome=outcome,
        result=result,
        baseline=base,
        index_digest="sha256:" + "c" * 64,
    )


def test_markdown_golden() -> None:
    check_golden("gate-comment.md", render_markdown(_scenario()))


def test_junit_golden() -> None:
    check_golden("gate-junit.xml", render_junit(_scenario().outcome))


def test_text_golden() -> None:
    check_golden("gate-text.txt", render_text(_scenario().outcome))


@pytest.mark.parametrize("count", [10, 5000])
def test_cap_keeps_verdict(count: int) -> None:
    checks = tuple(
        CheckResult(name=f"check {i}", status=CheckStatus.FAIL, message="x" * 40)
        for i in range(count)
    )
    outcome = GateOutcome(verdict=Verdict.FAIL, reasons=("too slow",), checks=checks)
    text = render_markdown(ReportInput(name="n", outcome=outcome))
    assert len(text) <= LIMIT
    assert text.startswith(
        "<!-- soci-ci report: local (n) -->\n## ❌ soci-ci: fail\n\n- too slow\n"
    )
    assert text.endswith(
        "_Report truncated: the full details are in the job log and JUnit file._\n"
    ) == (count == 5000)

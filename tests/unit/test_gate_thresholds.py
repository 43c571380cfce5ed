from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from statistics import median

from soci_ci.config.model import AbsoluteLimit, Regression, Thresholds
from soci_ci.gate.baseline import Baseline, from_arm
from soci_ci.gate.thresholds import evaluate, soci_benefit
from soci_ci.gate.verdict import CheckStatus, Verdict
from soci_ci.probe.model import (
    ArmName,
    ArmResult,
    FailureKind,
    Phase,
    PhaseStats,
    ProbeResult,
    RunResult,
    Snapshotter,
)


def make_arm(
    name: ArmName,
    totals: Sequence[float],
    *,
    failed: int = 0,
    engaged: bool | None = None,
    image: str = "example.test/app@sha256:" + "a" * 64,
) -> ArmResult:
    soci = name is ArmName.SOCI
    runs = [
        RunResult(
            arm=name,
            index=i + 1,
            task_arn=f"arn:aws:ecs:us-east-1:1:task/c/{name}{i}",
            ok=True,
            snapshotter=Snapshotter.SOCI if soci else Snapshotter.OVERLAYFS,
            soci_engaged=soci if engaged is None else engaged,
            phases={Phase.TOTAL: t, Phase.PULL: t / 2},
        )
        for i, t in enumerate(totals)
    ]
    runs += [
        RunResult(
            arm=name,
            index=len(totals) + j + 1,
            task_arn=None,
            ok=False,
            failure_kind=FailureKind.CANNOT_PULL,
            failure_reason="CannotPullContainerError: <bad> & co",
        )
        for j in range(failed)
    ]
    ok = sorted(totals)

    def stats(values: Sequence[float]) -> PhaseStats:
        return PhaseStats(
            n=len(values),
            median=float(median(values)),
            mean=sum(values) / len(values),
            p90=max(values),
            min=min(values),
            max=max(values),
            iqr=0.0,
        )

    return ArmResult(
        name=name,
        image=image,
        digest=image.partition("@")[2] or None,
        runs=tuple(runs),
        stats={Phase.TOTAL: stats(ok), Phase.PULL: stats([t / 2 for t in ok])},
    )


def make_result(*arms: ArmResult) -> ProbeResult:
    return ProbeResult(
        run_id="run-1",
        started_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        region="us-east-1",
        cluster="default",
        arms=arms,
    )


PLAIN = make_arm(ArmName.NO_SOCI, [40, 41, 42, 43, 44])
SOCI = make_arm(ArmName.SOCI, [20, 21, 22, 23, 24])


def test_all_pass_and_keep_recommendation() -> None:
    out = evaluate(make_result(PLAIN, SOCI), Thresholds(absolute=()))
    assert out.verdict is Verdict.PASS
    assert out.recommendation == "keep SOCI: pull_to_ready median 47.6% faster than without"
    assert [c.status for c in out.checks] == [
        CheckStatus.PASS,
        CheckStatus.PASS,
        CheckStatus.PASS,
        CheckStatus.SKIPPED,
    ]


def test_absolute_breach_fails() -> None:
    limit = AbsoluteLimit(phase=Phase.TOTAL, stat="p50", arm=ArmName.SOCI, max_seconds=15)
    out = evaluate(make_result(PLAIN, SOCI), Thresholds(absolute=(limit,)))
    assert out.verdict is Verdict.FAIL
    assert out.reasons == ("soci total p50 22.00s exceeds 15s",)


def test_significant_regression_fails() -> None:
    base = Baseline(label="main@abc", samples=(10, 11, 12, 13, 14))
    out = evaluate(make_result(PLAIN, SOCI), Thresholds(), base)
    assert out.verdict is Verdict.FAIL
    assert out.reasons[0].startswith(
        "regression: soci pull_to_ready median 22.00s vs baseline 12.00s"
    )
    assert out.test == "exact Mann-Whitney U, one-sided p=0.0040, confidence 95%"


def test_regression_not_significant_is_neutral() -> None:
    base = Baseline(label="main@abc", samples=(12, 13, 14, 15, 30))
    out = evaluate(make_result(PLAIN, SOCI), Thresholds(), base)
    assert out.verdict is Verdict.NEUTRAL
    assert out.reasons[0].startswith("inconclusive regression:")


def test_regression_within_seconds_limit_passes() -> None:
    base = Baseline(label="b", samples=(19, 20, 21, 22, 23))
    limits = Thresholds(regression=Regression(max_percent=None, max_seconds=2.0))
    assert evaluate(make_result(PLAIN, SOCI), limits, base).verdict is Verdict.PASS


def test_baseline_arm() -> None:
    third = make_arm(ArmName.BASELINE, [10, 10.5, 11, 11.5, 12])
    result = make_result(PLAIN, SOCI, third)
    base = from_arm(result)
    assert base is not None and base.samples == (10, 10.5, 11, 11.5, 12)
    assert evaluate(result, Thresholds(), base).verdict is Verdict.FAIL


def test_failed_runs_and_soci_only_finding() -> None:
    soci = make_arm(ArmName.SOCI, [20, 21, 22, 23], failed=1)
    out = evaluate(make_result(PLAIN, soci), Thresholds())
    assert out.verdict is Verdict.FAIL
    assert out.reasons == ("soci: 1 of 5 runs failed (allowed 0)",)
    assert out.findings == (
        "failures only with SOCI (1 runs: cannot_pull): likely a SOCI index or snapshotter problem",
    )
    relaxed = evaluate(make_result(PLAIN, soci), Thresholds(allowed_failed_runs=1))
    assert relaxed.verdict is Verdict.PASS


def test_soci_not_engaged_fails_only_when_required() -> None:
    soci = make_arm(ArmName.SOCI, [20, 21, 22], engaged=False)
    assert evaluate(make_result(PLAIN, soci), Thresholds()).reasons == (
        "SOCI not engaged in run(s) 1, 2, 3",
    )
    relaxed = Thresholds(require_soci_engaged=False)
    assert evaluate(make_result(PLAIN, soci), relaxed).verdict is Verdict.PASS


def test_min_benefit_drop_recommendation() -> None:
    soci = make_arm(ArmName.SOCI, [39, 40, 41])
    out = evaluate(make_result(PLAIN, soci), Thresholds(min_soci_benefit_percent=10))
    assert out.verdict is Verdict.FAIL
    assert out.recommendation == "drop SOCI: pull_to_ready median only 4.8% faster (want 10%)"
    assert soci_benefit(make_result(soci)) is None


def test_no_probe_is_neutral() -> None:
    out = evaluate(None, Thresholds(), neutral_reason="fork PR: no AWS credentials")
    assert out.verdict is Verdict.NEUTRAL
    assert out.reasons == ("fork PR: no AWS credentials",)
    assert out.to_json()["verdict"] == "neutral"


def test_require_soci_engaged_fails_on_overlayfs_runs() -> None:
    """Runs where SOCI was not engaged are left out of the timings *and* fail this check."""
    soci = make_arm(ArmName.SOCI, [20, 21, 22])
    idle = RunResult(
        arm=ArmName.SOCI,
        index=4,
        task_arn="arn:t/4",
        ok=False,
        failure_kind=FailureKind.SOCI_NOT_ENGAGED,
        failure_reason="Task Metadata v4 reports Snapshotter=overlayfs for the SOCI image",
        snapshotter=Snapshotter.OVERLAYFS,
        soci_engaged=False,
    )
    arm = ArmResult(
        name=soci.name,
        image=soci.image,
        digest=soci.digest,
        runs=(*soci.runs, idle),
        stats=soci.stats,
    )
    out = evaluate(make_result(make_arm(ArmName.NO_SOCI, [40, 41, 42]), arm), Thresholds())
    engaged = next(c for c in out.checks if c.name == "SOCI engaged")
    assert engaged.status is CheckStatus.FAIL
    assert engaged.message == "SOCI not engaged in run(s) 4"
    failed = next(c for c in out.checks if c.name.startswith("failed runs soci"))
    assert failed.status is CheckStatus.PASS  # not an image failure
    assert out.verdict is Verdict.FAIL


def test_infrastructure_failures_are_reported_not_counted() -> None:
    soci = make_arm(ArmName.SOCI, [20, 21, 22])
    lost = RunResult(
        arm=ArmName.SOCI,
        index=4,
        task_arn=None,
        ok=False,
        failure_kind=FailureKind.CAPACITY,
        failure_reason="Capacity is unavailable at this time.",
    )
    arm = ArmResult(
        name=soci.name,
        image=soci.image,
        digest=soci.digest,
        runs=(*soci.runs, lost),
        stats=soci.stats,
    )
    out = evaluate(make_result(make_arm(ArmName.NO_SOCI, [40, 41, 42]), arm), Thresholds())
    assert out.verdict is Verdict.PASS
    assert out.findings[0] == (
        "soci: 1 run(s) lost to infrastructure (capacity), not counted against the image"
    )

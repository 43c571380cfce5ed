"""Evaluate the configured thresholds against a probe result (pure).

One `CheckResult` per threshold. A regression FAILS only when it exceeds the limit AND the
one-sided test is significant at the configured confidence; exceeded but not significant is
"inconclusive" (neutral verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from soci_ci.config.model import AbsoluteLimit, Thresholds
from soci_ci.gate.baseline import Baseline, samples_of
from soci_ci.gate.stats import Significance, slower
from soci_ci.gate.verdict import CheckResult, CheckStatus, GateOutcome, decide
from soci_ci.probe.model import GATE_PHASE, ArmName, ProbeResult

PASS, FAIL, UNSURE, SKIP = (
    CheckStatus.PASS,
    CheckStatus.FAIL,
    CheckStatus.INCONCLUSIVE,
    CheckStatus.SKIPPED,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Regression:
    current_median: float
    baseline_median: float
    delta_seconds: float
    delta_percent: float
    significance: Significance


def _absolute(result: ProbeResult, limit: AbsoluteLimit) -> CheckResult:
    name = f"absolute {limit.arm} {limit.phase} {limit.stat} <= {limit.max_seconds:g}s"
    arm = result.arm(limit.arm)
    stats = None if arm is None else arm.stats.get(limit.phase)
    value = None if stats is None else getattr(stats, limit.stat_key)
    if value is None:
        return CheckResult(name=name, status=UNSURE, message=f"{name}: no data")
    if value > limit.max_seconds:
        return CheckResult(
            name=name,
            status=FAIL,
            message=(
                f"{limit.arm} {limit.phase} {limit.stat} {value:.2f}s "
                f"exceeds {limit.max_seconds:g}s"
            ),
        )
    return CheckResult(name=name, status=PASS, message=f"{name}: {value:.2f}s")


def _failed_runs(result: ProbeResult, allowed: int) -> tuple[list[CheckResult], list[str]]:
    checks: list[CheckResult] = []
    for arm in result.arms:
        name = f"failed runs {arm.name} <= {allowed}"
        count = len(arm.failures)
        status = FAIL if count > allowed else PASS
        message = f"{arm.name}: {count} of {len(arm.runs)} runs failed (allowed {allowed})"
        checks.append(CheckResult(name=name, status=status, message=message))
    findings: list[str] = []
    for arm in result.arms:
        infra = arm.infrastructure_failures
        if infra:
            kinds = sorted({str(r.failure_kind) for r in infra})
            findings.append(
                f"{arm.name}: {len(infra)} run(s) lost to infrastructure ({', '.join(kinds)}), "
                "not counted against the image"
            )
    soci, plain = result.arm(ArmName.SOCI), result.arm(ArmName.NO_SOCI)
    if soci is not None and plain is not None and soci.failures and not plain.failures:
        kinds = sorted({str(r.failure_kind or "other") for r in soci.failures})
        findings.append(
            f"failures only with SOCI ({len(soci.failures)} runs: {', '.join(kinds)}): "
            "likely a SOCI index or snapshotter problem"
        )
    return checks, findings


def _engaged(result: ProbeResult) -> CheckResult:
    """Every SOCI run whose snapshotter is known, successful or not: a run on overlayfs
    (kind soci_not_engaged, left out of the timings) fails this check."""
    name = "SOCI engaged"
    arm = result.arm(ArmName.SOCI)
    runs = () if arm is None else tuple(r for r in arm.runs if r.soci_engaged is not None or r.ok)
    if not runs:
        return CheckResult(name=name, status=UNSURE, message="no SOCI run to check")
    not_engaged = [r.index for r in runs if r.soci_engaged is False]
    if not_engaged:
        return CheckResult(
            name=name,
            status=FAIL,
            message=f"SOCI not engaged in run(s) {', '.join(map(str, not_engaged))}",
        )
    if all(r.soci_engaged is None for r in runs):
        return CheckResult(name=name, status=UNSURE, message="snapshotter unknown in every run")
    return CheckResult(name=name, status=PASS, message="SOCI snapshotter used")


def regression(result: ProbeResult, baseline: Baseline, *, confidence: float) -> Regression | None:
    current = samples_of(result, ArmName.SOCI)
    if not current or not baseline.samples:
        return None
    cur, base = float(median(current)), float(median(baseline.samples))
    delta = cur - base
    return Regression(
        current_median=cur,
        baseline_median=base,
        delta_seconds=delta,
        delta_percent=(delta / base * 100.0) if base > 0 else 0.0,
        significance=slower(current, baseline.samples, confidence=confidence),
    )


def _regression_check(
    result: ProbeResult, thresholds: Thresholds, baseline: Baseline | None
) -> tuple[CheckResult, Regression | None]:
    limits = thresholds.regression
    parts = []
    if limits.max_percent is not None:
        parts.append(f"{limits.max_percent:g}%")
    if limits.max_seconds is not None:
        parts.append(f"{limits.max_seconds:g}s")
    name = f"regression soci {GATE_PHASE} median <= {' / '.join(parts) or 'none'}"
    if not parts:
        return CheckResult(name=name, status=SKIP, message="no regression limit configured"), None
    if baseline is None:
        return CheckResult(name=name, status=SKIP, message="no baseline"), None
    reg = regression(result, baseline, confidence=limits.confidence)
    if reg is None:
        return CheckResult(name=name, status=UNSURE, message="regression: no samples"), None
    over = (limits.max_percent is not None and reg.delta_percent > limits.max_percent) or (
        limits.max_seconds is not None and reg.delta_seconds > limits.max_seconds
    )
    text = (
        f"soci {GATE_PHASE} median {reg.current_median:.2f}s vs baseline "
        f"{reg.baseline_median:.2f}s "
        f"({reg.delta_seconds:+.2f}s, {reg.delta_percent:+.1f}%; {reg.significance.describe()})"
    )
    if not over:
        return CheckResult(name=name, status=PASS, message=text), reg
    if reg.significance.significant:
        return CheckResult(name=name, status=FAIL, message=f"regression: {text}"), reg
    return CheckResult(name=name, status=UNSURE, message=f"inconclusive regression: {text}"), reg


def soci_benefit(result: ProbeResult) -> float | None:
    """Percent improvement of the soci median over no-soci (gated metric; positive: faster)."""
    soci, plain = samples_of(result, ArmName.SOCI), samples_of(result, ArmName.NO_SOCI)
    if not soci or not plain:
        return None
    base = float(median(plain))
    return (base - float(median(soci))) / base * 100.0 if base > 0 else None


def _benefit(result: ProbeResult, minimum: float | None) -> tuple[CheckResult | None, str | None]:
    benefit = soci_benefit(result)
    target = 0.0 if minimum is None else minimum
    if benefit is None:
        advice = None
    elif benefit >= target:
        advice = f"keep SOCI: {GATE_PHASE} median {benefit:.1f}% faster than without"
    else:
        advice = f"drop SOCI: {GATE_PHASE} median only {benefit:.1f}% faster (want {target:g}%)"
    if minimum is None:
        return None, advice
    name = f"SOCI benefit >= {minimum:g}%"
    if benefit is None:
        return CheckResult(name=name, status=UNSURE, message="SOCI benefit: no data"), advice
    status = PASS if benefit >= minimum else FAIL
    message = f"SOCI benefit {benefit:.1f}% (minimum {minimum:g}%)"
    return CheckResult(name=name, status=status, message=message), advice


def evaluate(
    result: ProbeResult | None,
    thresholds: Thresholds,
    baseline: Baseline | None = None,
    *,
    neutral_reason: str | None = None,
) -> GateOutcome:
    """All checks, the verdict and the keep/drop recommendation.

    ``result=None`` (no probe, e.g. a fork PR) or ``neutral_reason`` gives a neutral verdict.
    """
    if result is None:
        reason = neutral_reason or "no probe result"
        return GateOutcome(
            verdict=decide((), neutral_reason=reason)[0], reasons=(reason,), checks=()
        )
    checks = [_absolute(result, limit) for limit in thresholds.absolute]
    failed, findings = _failed_runs(result, thresholds.allowed_failed_runs)
    checks.extend(failed)
    if thresholds.require_soci_engaged:
        checks.append(_engaged(result))
    reg_check, reg = _regression_check(result, thresholds, baseline)
    checks.append(reg_check)
    benefit_check, advice = _benefit(result, thresholds.min_soci_benefit_percent)
    if benefit_check is not None:
        checks.append(benefit_check)
    verdict, reasons = decide(checks, neutral_reason=neutral_reason)
    return GateOutcome(
        verdict=verdict,
        reasons=reasons,
        checks=tuple(checks),
        findings=tuple(findings),
        recommendation=advice,
        test=None if reg is None else reg.significance.describe(),
    )

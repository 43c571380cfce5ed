"""Verdict of the gate: pass / fail / neutral, with reasons and one check per threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """The one verdict of a gate and of a whole run (only a run ends in ``error``)."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NEUTRAL = "neutral"
    ERROR = "error"  # the run could not finish: a step failed or the input was bad


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One threshold (one JUnit testcase)."""

    name: str
    status: CheckStatus
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOutcome:
    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    findings: tuple[str, ...] = ()
    recommendation: str | None = None
    test: str | None = None  # statistical test used, for the report

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "reason": self.reason,
            "reasons": list(self.reasons),
            "checks": [c.to_json() for c in self.checks],
            "findings": list(self.findings),
            "recommendation": self.recommendation,
            "test": self.test,
        }


def decide(
    checks: Sequence[CheckResult], *, neutral_reason: str | None = None
) -> tuple[Verdict, tuple[str, ...]]:
    """Any failed check fails; else any inconclusive (or a forced reason) is neutral; else pass."""
    if neutral_reason is not None:
        return Verdict.NEUTRAL, (neutral_reason,)
    failed = tuple(c.message for c in checks if c.status is CheckStatus.FAIL)
    if failed:
        return Verdict.FAIL, failed
    unsure = tuple(c.message for c in checks if c.status is CheckStatus.INCONCLUSIVE)
    if unsure:
        return Verdict.NEUTRAL, unsure
    return Verdict.PASS, ("all thresholds passed",)

"""The one model of a `soci-ci run`: step records, the typed results, the summary.

`RunState` collects what each step returned while the pipeline runs; `RunSummary` is the
frozen result every output is rendered from (``soci_ci.report.run``): the PR comment, the
job summary, JUnit and the action's outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from soci_ci.app.build import BuiltImage
from soci_ci.app.index_model import IndexReport
from soci_ci.app.measure import GateResult
from soci_ci.app.verify import VerifyReport
from soci_ci.errors import ExitCode
from soci_ci.gate.verdict import Verdict
from soci_ci.probe.model import ProbeResult
from soci_ci.soci.verify import LazyStartSummary

if TYPE_CHECKING:  # startup is imported when it runs (it needs the Docker SDK)
    from soci_ci.startup.step import StartupStepResult


class StepName(StrEnum):
    BUILD = "build"
    INDEX = "index"
    VERIFY = "verify"
    STARTUP = "startup"
    PROBE = "probe"
    GATE = "gate"


STEPS = tuple(StepName)


class StepStatus(StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    name: str
    status: StepStatus
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    step: str  # a step name, or "setup" before the first step
    code: ExitCode
    message: str  # one line, redacted


@dataclass(slots=True, kw_only=True)
class RunState:
    """What the steps produced so far (the pipeline fills it in, in order)."""

    image_ref: str | None = None  # the image to index: built, or given
    built: BuiltImage | None = None
    index: IndexReport | None = None
    soci_image_ref: str | None = None
    verify: VerifyReport | None = None
    startup: StartupStepResult | None = None
    probe: ProbeResult | None = None
    gate: GateResult | None = None
    steps: list[StepRecord] = field(default_factory=list)
    failure: Failure | None = None


def medians_of(result: ProbeResult | None) -> Mapping[str, Mapping[str, float]]:
    """Arm -> phase -> median seconds, for the action's ``medians`` output."""
    if result is None:
        return MappingProxyType({})
    return MappingProxyType(
        {
            str(arm.name): {
                str(phase): float(stats.median)
                for phase, stats in arm.stats.items()
                if stats.median is not None
            }
            for arm in result.arms
        }
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    steps: tuple[StepRecord, ...]
    verdict: Verdict
    reason: str
    exit_code: ExitCode = ExitCode.OK
    image_ref: str | None = None
    image_digest: str | None = None
    soci_image_ref: str | None = None
    soci_index_digest: str | None = None
    medians: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    probe: ProbeResult | None = None
    gate: GateResult | None = None
    verify: VerifyReport | None = None
    lazy_start: LazyStartSummary | None = None  # verify's lazy-loading figures
    startup_markdown: str | None = None  # `soci-ci startup`'s section (soci_ci/startup/markdown.py)
    context_line: str = ""
    notes: tuple[str, ...] = ()  # e.g. trusted settings ignored from a pull request's config

    @classmethod
    def of(
        cls, state: RunState, verdict: Verdict, reason: str, code: ExitCode, context_line: str
    ) -> RunSummary:
        index = state.index
        image_digest = index.original_digest if index is not None else None
        if image_digest is None and state.built is not None:
            image_digest = state.built.result.digest
        return cls(
            steps=tuple(state.steps),
            verdict=verdict,
            reason=reason,
            exit_code=code,
            image_ref=state.image_ref,
            image_digest=image_digest,
            soci_image_ref=state.soci_image_ref,
            soci_index_digest=(
                next(iter(index.soci_indexes.values()), None) if index is not None else None
            ),
            medians=medians_of(state.probe),
            probe=state.probe,
            gate=state.gate,
            verify=state.verify,
            lazy_start=state.verify.summary() if state.verify is not None else None,
            startup_markdown=(
                state.startup.markdown({a: dict(p) for a, p in medians_of(state.probe).items()})
                if state.startup is not None
                else None
            ),
            context_line=context_line,
        )

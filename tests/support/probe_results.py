"""Probe results for tests: arms built from lists of total seconds (shared builders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from statistics import median

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

from __future__ import annotations

from datetime import UTC, datetime

from soci_ci.probe.markdown import render
from soci_ci.probe.model import (
    ArmName,
    ArmResult,
    FailureKind,
    Phase,
    ProbeResult,
    RunResult,
    Snapshotter,
)
from soci_ci.probe.stats import summarize

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"


def run(arm: ArmName, index: int, c2r: float, r2r: float, snapshotter: Snapshotter) -> RunResult:
    return RunResult(
        arm=arm,
        index=index,
        task_arn=f"arn:task/{arm}-{index}",
        ok=True,
        snapshotter=snapshotter,
        soci_engaged=snapshotter is Snapshotter.SOCI,
        phases={
            Phase.PROVISIONING: c2r - 9.0,
            Phase.PULL: 7.0,
            Phase.START: 2.0,
            Phase.APP_READY: r2r,
            Phase.TOTAL: round(c2r + r2r, 3),
            Phase.CREATED_TO_RUNNING: c2r,
            Phase.RUNNING_TO_READY: r2r,
        },
    )


def arm_result(name: ArmName, image: str, runs: list[RunResult]) -> ArmResult:
    ok = [r for r in runs if r.ok]
    return ArmResult(
        name=name,
        image=image,
        digest=image.split("@")[1],
        runs=tuple(runs),
        stats={p: summarize(r.phases[p] for r in ok if p in r.phases) for p in Phase},
    )


def test_table() -> None:
    plain = [run(ArmName.NO_SOCI, i, 35.0 + i, 0.1, Snapshotter.OVERLAYFS) for i in (1, 2, 3)]
    soci = [run(ArmName.SOCI, i, 17.0 + i / 10, 3.8, Snapshotter.SOCI) for i in (1, 2)]
    soci.append(
        RunResult(
            arm=ArmName.SOCI,
            index=3,
            task_arn="arn:task/soci-3",
            ok=False,
            failure_kind=FailureKind.CANNOT_PULL,
            failure_reason="CannotPullContainerError: not found\nretried",
        )
    )
    result = ProbeResult(
        run_id="r",
        started_at=datetime(2026, 3, 14, tzinfo=UTC),
        region="us-east-1",
        cluster="default",
        arms=(
            arm_result(ArmName.NO_SOCI, f"{REPO}@sha256:aaaa", plain),
            arm_result(ArmName.SOCI, f"{REPO}@sha256:bbbb", soci),
        ),
    )
    assert (
        render(result)
        == """\
| image | SOCI | runs ok | created → running (s) | running → ready (s) | pull → ready (s) | total (s) | snapshotter |
|---|---|---|---|---|---|---|---|
| `app@sha256:aaaa` | no | 3/3 | 37.000 (37.000 / 37.800) | 0.100 (0.100 / 0.100) | – | 37.100 (37.100 / 37.900) | 0/3 soci |
| `app@sha256:bbbb` | yes | 2/3 | 17.150 (17.150 / 17.190) | 3.800 (3.800 / 3.800) | – | 20.950 (20.950 / 20.990) | 2/2 soci |

Cells: median (mean / p90) in seconds over successful runs; p90 and IQR use linear interpolation (type 7).

| arm | phase | n | median | mean | p90 | min | max | IQR |
|---|---|---|---|---|---|---|---|---|
| no-soci | provisioning (created → pull started) | 3 | 28.000 | 28.000 | 28.800 | 27.000 | 29.000 | 1.000 |
| no-soci | pull | 3 | 7.000 | 7.000 | 7.000 | 7.000 | 7.000 | 0.000 |
| no-soci | start (pull stopped → running) | 3 | 2.000 | 2.000 | 2.000 | 2.000 | 2.000 | 0.000 |
| no-soci | app ready (running → ready) | 3 | 0.100 | 0.100 | 0.100 | 0.100 | 0.100 | 0.000 |
| no-soci | pull → ready (gated: total minus provisioning) | 0 | – | – | – | – | – | – |
| no-soci | total (created → ready) | 3 | 37.100 | 37.100 | 37.900 | 36.100 | 38.100 | 1.000 |
| soci | provisioning (created → pull started) | 2 | 8.150 | 8.150 | 8.190 | 8.100 | 8.200 | 0.050 |
| soci | pull | 2 | 7.000 | 7.000 | 7.000 | 7.000 | 7.000 | 0.000 |
| soci | start (pull stopped → running) | 2 | 2.000 | 2.000 | 2.000 | 2.000 | 2.000 | 0.000 |
| soci | app ready (running → ready) | 2 | 3.800 | 3.800 | 3.800 | 3.800 | 3.800 | 0.000 |
| soci | pull → ready (gated: total minus provisioning) | 0 | – | – | – | – | – | – |
| soci | total (created → ready) | 2 | 20.950 | 20.950 | 20.990 | 20.900 | 21.000 | 0.050 |

**Finding:** 1 run(s) failed with SOCI against 0 without: the image may not work when lazily loaded.

Failed runs:

- soci run 3: cannot_pull: CannotPullContainerError: not found retried
"""
    )


def test_soci_not_engaged_is_called_out() -> None:
    idle = RunResult(
        arm=ArmName.SOCI,
        index=1,
        task_arn="arn:task/soci-1",
        ok=False,
        failure_kind=FailureKind.SOCI_NOT_ENGAGED,
        failure_reason="Task Metadata v4 reports Snapshotter=overlayfs for the SOCI image",
        snapshotter=Snapshotter.OVERLAYFS,
        soci_engaged=False,
    )
    plain = run(ArmName.NO_SOCI, 1, 30.0, 0.1, Snapshotter.OVERLAYFS)
    result = ProbeResult(
        run_id="r",
        started_at=datetime(2026, 3, 14, tzinfo=UTC),
        region="us-east-1",
        cluster="default",
        arms=(
            arm_result(ArmName.NO_SOCI, f"{REPO}@sha256:aaaa", [plain]),
            arm_result(ArmName.SOCI, f"{REPO}@sha256:bbbb", [idle]),
        ),
    )
    text = render(result)
    assert text.splitlines()[3] == "| `app@sha256:bbbb` | yes | 0/1 | – | – | – | – | 0/1 soci |"
    assert text.endswith(  # judged by require_soci_engaged, not listed as an image failure
        "\n**SOCI not engaged** in 1 run(s): Fargate used overlayfs; those runs are not counted.\n"
    )
    assert "**Finding:**" not in text

"""From a DescribeTasks task payload to timestamps, phases and a failure class (pure).

Phase boundaries (task-level timestamps, see ``notes/aws.md`` 2.2)::

    createdAt -> pullStartedAt -> pullStoppedAt -> startedAt -> readyAt
    provisioning     pull             start         app_ready
    |------------ created_to_running ----------|--running_to_ready--|
    |------------------------------ total -------------------------|
                   |-------------------- pull_to_ready ------------|

ECS timestamps come from different components and can be out of order (e.g. ``startedAt``
a few ms before ``pullStoppedAt``): a negative phase is clamped to 0 and the run carries an
anomaly note, so no phase is ever negative and nothing is hidden.

``readyAt`` is not an ECS field: it is the CloudWatch Logs ``timestamp`` of the ready line
(or a configured fallback), supplied by the caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from soci_ci.probe.model import (
    ArmName,
    FailureKind,
    Phase,
    RunResult,
    Snapshotter,
    Stamp,
)

_ECS_STAMPS = (
    Stamp.CREATED,
    Stamp.CONNECTIVITY,
    Stamp.PULL_STARTED,
    Stamp.PULL_STOPPED,
    Stamp.STARTED,
    Stamp.STOPPED,
)

_PHASES: tuple[tuple[Phase, Stamp, Stamp], ...] = (
    (Phase.PROVISIONING, Stamp.CREATED, Stamp.PULL_STARTED),
    (Phase.PULL, Stamp.PULL_STARTED, Stamp.PULL_STOPPED),
    (Phase.START, Stamp.PULL_STOPPED, Stamp.STARTED),
    (Phase.APP_READY, Stamp.STARTED, Stamp.READY),
    (Phase.TOTAL, Stamp.CREATED, Stamp.READY),
    (Phase.CREATED_TO_RUNNING, Stamp.CREATED, Stamp.STARTED),
    (Phase.RUNNING_TO_READY, Stamp.STARTED, Stamp.READY),
    (Phase.PULL_TO_READY, Stamp.PULL_STARTED, Stamp.READY),
)
# Consecutive stamps that must not go backwards (the anomaly check).
_ORDER = (
    Stamp.CREATED,
    Stamp.CONNECTIVITY,
    Stamp.PULL_STARTED,
    Stamp.PULL_STOPPED,
    Stamp.STARTED,
    Stamp.READY,
)

# Lower-cased markers of infrastructure conditions (RunTask failures[].reason, stoppedReason).
_SPOT_MARKERS = ("spotinterruption", "spot interruption", "spot capacity", "terminationnotice")
_QUOTA_MARKERS = (
    "limit on the number of",  # "You've reached the limit on the number of tasks/vCPUs ..."
    "vcpu limit",
    "vcpu quota",
    "service quota",
)
_CAPACITY_MARKERS = (
    "capacity is unavailable",
    "insufficient capacity",
    "no capacity",
    "resource:",  # RunTask failures[].reason such as "RESOURCE:ENI", "RESOURCE:MEMORY"
    "timeout waiting for network interface provisioning",
    "unable to provision",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    kind: FailureKind
    reason: str


def to_datetime(value: object) -> datetime | None:
    """boto3 gives aware datetimes; JSON payloads give ISO strings or epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        return to_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise TypeError(f"not a timestamp: {value!r}")


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def task_timestamps(task: Mapping[str, Any]) -> dict[Stamp, datetime | None]:
    return {stamp: to_datetime(task.get(str(stamp))) for stamp in _ECS_STAMPS}


def phases(stamps: Mapping[Stamp, datetime | None]) -> dict[Phase, float]:
    """Seconds per phase whose two ends are known (ms precision), never negative."""
    out: dict[Phase, float] = {}
    for phase, start, end in _PHASES:
        a, b = stamps.get(start), stamps.get(end)
        if a is not None and b is not None:
            out[phase] = max(0.0, round((b - a).total_seconds(), 3))
    return out


def anomalies(stamps: Mapping[Stamp, datetime | None]) -> tuple[str, ...]:
    """Pairs of known stamps in the wrong order (each phase between them was clamped)."""
    known = [(s, stamps.get(s)) for s in _ORDER if stamps.get(s) is not None]
    notes: list[str] = []
    for (first, a), (second, b) in itertools.pairwise(known):
        assert a is not None and b is not None
        if b < a:
            gap = (a - b).total_seconds()
            notes.append(f"{second} is {gap:.3f} s before {first} (clamped)")
    return tuple(notes)


def _reasons(task: Mapping[str, Any]) -> list[str]:
    texts = [str(task.get("stoppedReason") or "")]
    texts += [str(c.get("reason") or "") for c in task.get("containers") or ()]
    return [t for t in texts if t]


def _infrastructure(lowered: str, stop_code: str) -> FailureKind | None:
    if stop_code in {"SpotInterruption", "TerminationNotice"} or any(
        m in lowered for m in _SPOT_MARKERS
    ):
        return FailureKind.SPOT_INTERRUPTION
    if any(m in lowered for m in _QUOTA_MARKERS):
        return FailureKind.QUOTA
    if any(m in lowered for m in _CAPACITY_MARKERS):
        return FailureKind.CAPACITY
    return None


def _check_container_failure(
    task: Mapping[str, Any], check_name: str, check_image: str | None
) -> Failure | None:
    """The check container (not the app) could not be pulled or started, or died early."""
    containers = list(task.get("containers") or ())
    check = next((c for c in containers if c.get("name") == check_name), None)
    stopped = str(task.get("stoppedReason") or "")
    pull_failed = (
        check_image is not None
        and check_image in stopped
        and ("cannotpullcontainer" in stopped.lower())
    )
    if check is None and not pull_failed:
        return None
    reason = "" if check is None else str(check.get("reason") or "")
    if (
        pull_failed
        or "cannotpullcontainer" in reason.lower()
        or ("cannotstartcontainer" in reason.lower())
    ):
        return Failure(
            kind=FailureKind.CHECK_CONTAINER,
            reason=f"soci-ci's check container failed, not the app: {reason or stopped}",
        )
    return None


def classify_stopped(
    task: Mapping[str, Any],
    *,
    container_name: str,
    check_name: str = "soci-ci-check",
    check_image: str | None = None,
) -> Failure:
    """Why a task stopped before it was ready (the raw reasons kept, joined by `; `)."""
    reasons = _reasons(task)
    raw = "; ".join(dict.fromkeys(reasons)) or "task stopped without a reason"
    lowered = raw.lower()
    stop_code = str(task.get("stopCode") or "")
    containers = list(task.get("containers") or ())
    app = next((c for c in containers if c.get("name") == container_name), None)
    app_reason = "" if app is None else str(app.get("reason") or "").lower()
    check_failure = _check_container_failure(task, check_name, check_image)
    if check_failure is not None and "cannotpullcontainer" not in app_reason:
        return check_failure
    infrastructure = _infrastructure(lowered, stop_code)
    if infrastructure is not None:
        return Failure(kind=infrastructure, reason=raw)
    if "cannotpullcontainererror" in lowered:
        return Failure(kind=FailureKind.CANNOT_PULL, reason=raw)
    if "resourceinitializationerror" in lowered:
        return Failure(kind=FailureKind.RESOURCE_INITIALIZATION, reason=raw)
    if stop_code == "EssentialContainerExited" or "essential container" in lowered:
        check = next((c for c in containers if c.get("name") == check_name), None)
        app_exit = None if app is None else app.get("exitCode")
        if check is not None and check.get("exitCode") is not None and app_exit is None:
            return Failure(
                kind=FailureKind.NEVER_READY,
                reason=f"the task's watchdog ended it at its deadline ({raw})",
            )
        suffix = "" if app_exit is None else f" (exit code {app_exit})"
        return Failure(kind=FailureKind.ESSENTIAL_CONTAINER_EXITED, reason=raw + suffix)
    return Failure(kind=FailureKind.OTHER, reason=f"{stop_code}: {raw}" if stop_code else raw)


def classify_run_task_failure(failure: Mapping[str, Any]) -> Failure:
    """One ``failures[]`` entry of RunTask (no task was created)."""
    reason = (
        " ".join(str(failure.get(k)) for k in ("reason", "detail") if failure.get(k))
        or "RunTask failed"
    )
    kind = _infrastructure(reason.lower(), "")
    return Failure(kind=kind or FailureKind.RUN_TASK_FAILED, reason=reason)


def engaged(snapshotter: Snapshotter) -> bool | None:
    """Did the task lazy-load? None when the snapshotter is unknown."""
    if snapshotter is Snapshotter.UNKNOWN:
        return None
    return snapshotter is Snapshotter.SOCI


def snapshotter_mismatch(arm: ArmName, snapshotter: Snapshotter) -> Failure | None:
    """A SOCI arm that ran on overlayfs (or a no-SOCI arm that lazy-loaded) is not counted."""
    if arm is ArmName.SOCI and snapshotter is Snapshotter.OVERLAYFS:
        return Failure(
            kind=FailureKind.SOCI_NOT_ENGAGED,
            reason="Task Metadata v4 reports Snapshotter=overlayfs for the SOCI image",
        )
    if arm is not ArmName.SOCI and snapshotter is Snapshotter.SOCI:
        return Failure(
            kind=FailureKind.OTHER,
            reason="the image without a SOCI index was lazy-loaded (a v1 index on its digest?)",
        )
    return None


def build_run(
    *,
    arm: ArmName,
    index: int,
    task: Mapping[str, Any] | None,
    ready_at: datetime | None,
    snapshotter: Snapshotter,
    failure: Failure | None,
    attempt: int = 1,
) -> RunResult:
    """Assemble one run's result; a snapshotter mismatch turns a success into a failure."""
    stamps: dict[Stamp, datetime | None] = dict.fromkeys(Stamp)
    if task is not None:
        stamps.update(task_timestamps(task))
    stamps[Stamp.READY] = ready_at if failure is None else None
    if failure is None:
        failure = snapshotter_mismatch(arm, snapshotter)
    return RunResult(
        arm=arm,
        index=index,
        task_arn=None if task is None else task.get("taskArn"),
        ok=failure is None,
        failure_kind=None if failure is None else failure.kind,
        failure_reason=None if failure is None else failure.reason,
        snapshotter=snapshotter,
        soci_engaged=engaged(snapshotter),
        timestamps={s: stamps[s] for s in Stamp},
        phases=phases(stamps),
        anomalies=anomalies(stamps),
        attempt=attempt,
    )


def ok_phase_values(runs: Sequence[RunResult], phase: Phase) -> list[float]:
    return [r.phases[phase] for r in runs if r.ok and phase in r.phases]

"""Timestamps, phases and failure classes from DescribeTasks payloads (notes/aws.md 2.2, 2.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from soci_ci.probe.model import ArmName, FailureKind, Phase, Snapshotter, Stamp
from soci_ci.probe.timeline import (
    Failure,
    anomalies,
    build_run,
    classify_run_task_failure,
    classify_stopped,
    phases,
    task_timestamps,
)

# The recorded Fargate task (EventBridge sample in notes/aws.md 2.2), as boto3 returns it.
RECORDED: dict[str, Any] = {
    "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef",
    "lastStatus": "RUNNING",
    "createdAt": datetime(2026, 3, 14, 14, 25, 20, 227000, tzinfo=UTC),
    "connectivityAt": datetime(2026, 3, 14, 14, 25, 33, 981000, tzinfo=UTC),
    "pullStartedAt": datetime(2026, 3, 14, 14, 25, 39, 750000, tzinfo=UTC),
    "pullStoppedAt": datetime(2026, 3, 14, 14, 25, 46, 750000, tzinfo=UTC),
    "startedAt": datetime(2026, 3, 14, 14, 25, 48, 750000, tzinfo=UTC),
    "containers": [{"name": "app", "lastStatus": "RUNNING"}],
}
READY = datetime(2026, 3, 14, 14, 25, 52, 591000, tzinfo=UTC)


def test_phases_of_recorded_task() -> None:
    stamps: dict[Stamp, datetime | None] = dict(task_timestamps(RECORDED))
    stamps[Stamp.READY] = READY
    assert phases(stamps) == {
        Phase.PROVISIONING: 19.523,
        Phase.PULL: 7.0,
        Phase.START: 2.0,
        Phase.APP_READY: 3.841,
        Phase.TOTAL: 32.364,
        Phase.CREATED_TO_RUNNING: 28.523,
        Phase.RUNNING_TO_READY: 3.841,
        Phase.PULL_TO_READY: 12.841,  # total minus provisioning
    }


def test_out_of_order_stamps_are_clamped_and_flagged() -> None:
    stamps: dict[Stamp, datetime | None] = dict(task_timestamps(RECORDED))
    stamps[Stamp.STARTED] = datetime(2026, 3, 14, 14, 25, 46, 550000, tzinfo=UTC)  # 0.2 s early
    stamps[Stamp.READY] = datetime(2026, 3, 14, 14, 25, 46, 500000, tzinfo=UTC)
    result = phases(stamps)
    assert result[Phase.START] == 0.0 and result[Phase.APP_READY] == 0.0
    assert min(result.values()) >= 0.0
    assert anomalies(stamps) == (
        "startedAt is 0.200 s before pullStoppedAt (clamped)",
        "readyAt is 0.050 s before startedAt (clamped)",
    )


def test_check_container_failure_is_not_the_apps() -> None:
    check_ref = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "c" * 64
    task = {
        "lastStatus": "STOPPED",
        "stopCode": "TaskFailedToStart",
        "stoppedReason": f"CannotPullContainerError: pull image manifest has been retried 5 "
        f"time(s): failed to resolve ref {check_ref}: not found",
        "containers": [
            {"name": "app", "lastStatus": "STOPPED"},
            {
                "name": "soci-ci-check",
                "lastStatus": "STOPPED",
                "reason": "CannotPullContainerError",
            },
        ],
    }
    failure = classify_stopped(task, container_name="app", check_image=check_ref)
    assert failure.kind is FailureKind.CHECK_CONTAINER and failure.kind.infrastructure
    assert failure.reason.startswith("soci-ci's check container failed, not the app")


def test_watchdog_exit_is_never_ready() -> None:
    task = {
        "lastStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "containers": [
            {"name": "app", "lastStatus": "STOPPED"},
            {"name": "soci-ci-check", "lastStatus": "STOPPED", "exitCode": 1},
        ],
    }
    failure = classify_stopped(task, container_name="app")
    assert failure.kind is FailureKind.NEVER_READY
    assert "watchdog" in failure.reason


def test_iso_strings_and_missing_fields() -> None:
    task = {
        "createdAt": "2026-03-14T14:25:20.227Z",
        "pullStartedAt": "2026-03-14T14:25:21.227+00:00",
    }
    stamps = task_timestamps(task)
    assert stamps[Stamp.STARTED] is None
    assert phases(stamps) == {Phase.PROVISIONING: 1.0}


def stopped(**fields: Any) -> dict[str, Any]:
    return {**RECORDED, "lastStatus": "STOPPED", **fields}


@pytest.mark.parametrize(
    ("task", "kind", "reason"),
    [
        (
            stopped(
                stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                "failed to resolve ref 1234.dkr.ecr.us-east-1.amazonaws.com/app@sha256:ab: not found",
                stopCode="TaskFailedToStart",
            ),
            FailureKind.CANNOT_PULL,
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
            "failed to resolve ref 1234.dkr.ecr.us-east-1.amazonaws.com/app@sha256:ab: not found",
        ),
        (
            stopped(
                stoppedReason="ResourceInitializationError: unable to pull secrets or registry auth: "
                "execution resource retrieval failed: unable to retrieve ecr registry auth",
                stopCode="TaskFailedToStart",
            ),
            FailureKind.RESOURCE_INITIALIZATION,
            "ResourceInitializationError: unable to pull secrets or registry auth: "
            "execution resource retrieval failed: unable to retrieve ecr registry auth",
        ),
        (
            stopped(
                stoppedReason="Essential container in task exited",
                stopCode="EssentialContainerExited",
                containers=[
                    {"name": "app", "exitCode": 1, "reason": "OutOfMemoryError: Container killed"}
                ],
            ),
            FailureKind.ESSENTIAL_CONTAINER_EXITED,
            "Essential container in task exited; OutOfMemoryError: Container killed (exit code 1)",
        ),
        (
            stopped(stoppedReason="Your Spot Task was interrupted.", stopCode="SpotInterruption"),
            FailureKind.SPOT_INTERRUPTION,
            "Your Spot Task was interrupted.",
        ),
        (
            stopped(stoppedReason="Task stopped by user", stopCode="UserInitiated"),
            FailureKind.OTHER,
            "UserInitiated: Task stopped by user",
        ),
        (stopped(), FailureKind.OTHER, "task stopped without a reason"),
    ],
)
def test_classify_stopped(task: dict[str, Any], kind: FailureKind, reason: str) -> None:
    assert classify_stopped(task, container_name="app") == Failure(kind=kind, reason=reason)


def test_classify_run_task_failures() -> None:
    assert (
        classify_run_task_failure(
            {
                "reason": "Capacity is unavailable at this time. Please try again later or in a different availability zone"
            }
        ).kind
        is FailureKind.CAPACITY
    )
    limit = {"reason": "You've reached the limit on the number of tasks you can run concurrently"}
    assert classify_run_task_failure(limit).kind is FailureKind.QUOTA
    vcpu = {"reason": "You’ve reached the limit on the number of vCPUs you can run concurrently"}
    assert classify_run_task_failure(vcpu).kind is FailureKind.QUOTA
    assert classify_run_task_failure({"arn": "x", "reason": "MISSING"}) == Failure(
        kind=FailureKind.RUN_TASK_FAILED, reason="MISSING"
    )


def test_build_run_snapshotter_rules() -> None:
    ok = build_run(
        arm=ArmName.SOCI,
        index=1,
        task=RECORDED,
        ready_at=READY,
        snapshotter=Snapshotter.SOCI,
        failure=None,
    )
    assert (ok.ok, ok.soci_engaged, ok.timestamps[Stamp.READY]) == (True, True, READY)
    lazy_plain = build_run(
        arm=ArmName.NO_SOCI,
        index=1,
        task=RECORDED,
        ready_at=READY,
        snapshotter=Snapshotter.SOCI,
        failure=None,
    )
    assert (lazy_plain.ok, lazy_plain.failure_kind) == (False, FailureKind.OTHER)
    unknown = build_run(
        arm=ArmName.SOCI,
        index=2,
        task=RECORDED,
        ready_at=READY,
        snapshotter=Snapshotter.UNKNOWN,
        failure=None,
    )
    assert (unknown.ok, unknown.soci_engaged) == (True, None)

"""Timestamps, phases and failure classes from DescribeTasks payloads (notes/aws.md 2.2, 2.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from soci_ci.probe.model import ArmName, FailureKind, Phase, Snapshotter, Stamp
from soci_ci.probe.timeline import (
    Failure,
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
    }


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
            FailureKind.CAPACITY,
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
    assert classify_run_task_failure(limit).kind is FailureKind.CAPACITY
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

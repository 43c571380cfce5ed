from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from soci_ci.errors import ProbeError
from soci_ci.probe.arms import from_index_report, repository_of
from soci_ci.probe.model import ArmName, FailureKind, Phase, ProbeResult, Stamp


def test_json_round_trip_and_shape() -> None:
    text = """{
 "schema": 1, "run_id": "soci-ci-probe-1", "started_at": "2026-03-14T14:25:20.227Z",
 "region": "us-east-1", "cluster": "default",
 "arms": [{"name": "soci", "image": "r/app@sha256:bb", "digest": "sha256:bb",
   "runs": [{"arm": "soci", "index": 1, "task_arn": "arn:t/1", "ok": false,
     "failure_kind": "never_ready", "failure_reason": "not ready within 600 s",
     "snapshotter": "soci", "soci_engaged": true,
     "timestamps": {"createdAt": "2026-03-14T14:25:20.227Z", "connectivityAt": null,
       "pullStartedAt": null, "pullStoppedAt": null, "startedAt": "2026-03-14T14:25:48.750Z",
       "readyAt": null, "stoppedAt": null},
     "phases": {"created_to_running": 28.523}, "anomalies": [], "attempt": 1}],
   "stats": {"total": {"n": 0, "median": null, "mean": null, "p90": null, "min": null,
     "max": null, "iqr": null}}}],
 "warnings": [], "retried": [], "leftovers": []}"""
    data = json.loads(text)
    result = ProbeResult.from_json(data)
    run = result.arms[0].runs[0]
    assert run.failure_kind is FailureKind.NEVER_READY
    assert run.timestamps[Stamp.STARTED] == datetime(2026, 3, 14, 14, 25, 48, 750000, tzinfo=UTC)
    assert run.phases == {Phase.CREATED_TO_RUNNING: 28.523}
    assert result.arm(ArmName.SOCI) is result.arms[0] and result.arm(ArmName.NO_SOCI) is None
    assert result.to_json() == data


def test_rejects_other_schema() -> None:
    with pytest.raises(ValueError, match="schema 2"):
        ProbeResult.from_json({"schema": 2})


def test_arms_from_index_report() -> None:
    report = {
        "image": "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
        "original_image": {"digest": "sha256:" + "a" * 64},
        "soci_image": {"digest": "sha256:" + "b" * 64, "tag": "v1-soci"},
    }
    arms = from_index_report(report)
    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"
    assert [(a.name, a.image) for a in arms] == [
        (ArmName.NO_SOCI, f"{repo}@sha256:{'a' * 64}"),
        (ArmName.SOCI, f"{repo}@sha256:{'b' * 64}"),
    ]
    with pytest.raises(ProbeError, match="no SOCI-enabled image digest"):
        from_index_report({**report, "soci_image": None})
    assert repository_of("localhost:5000/app@sha256:ab") == "localhost:5000/app"

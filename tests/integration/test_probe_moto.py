"""The probe's AWS plumbing against moto's server: register, run, describe, stop, deregister,
delete, the log lookups, and cleanup on SIGTERM.

moto has no Fargate timestamps (notes/aws.md section 6): its tasks start RUNNING without
``startedAt`` and step toward STOPPED on every DescribeTasks, so every run here ends as a
classified failure. Timing and readiness logic is tested against tests/fakes/ecs.py instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from soci_ci.probe.ecs import Retrier
from soci_ci.probe.logs import LogsApi, StreamCursor, first_match, parse_snapshotter
from soci_ci.probe.model import Snapshotter
from soci_ci.user_regex import compile_user_regex
from tests.servers.moto import Moto
from tests.support.probe import CHECK, NO_SOCI, SOCI, probe_command, run_probe

pytestmark = pytest.mark.integration

LOG_GROUP = "/soci-ci/probe"
ROOT = Path(__file__).resolve().parents[2]


def client(moto: Moto, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto.endpoint, region_name="us-east-1")


@pytest.fixture(scope="module")
def aws(moto_server: Moto) -> Iterator[dict[str, Any]]:
    ecs = client(moto_server, "ecs")
    ecs.create_cluster(clusterName="probe")
    subnet = client(moto_server, "ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    logs = client(moto_server, "logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    yield {"ecs": ecs, "logs": logs, "subnet": subnet}


def write_config(tmp_path: Path, subnet: str, timeout: int) -> Path:
    config = tmp_path / "soci-ci.yml"
    config.write_text(
        "version: 1\n"
        "probe:\n"
        "  cluster: probe\n"
        "  runs: 2\n"
        "  concurrency: 2\n"
        "  poll_seconds: 0.2\n"
        "  execution_role_arn: arn:aws:iam::123456789012:role/soci-probe-exec\n"
        "  log_group: /soci-ci/probe\n"
        f"  check_image: {CHECK}\n"
        f"  network: {{subnets: [{subnet}], security_groups: [], assign_public_ip: true}}\n"
        f"  ready: {{log_regex: READY, timeout_seconds: {timeout}}}\n"
    )
    return config


def env(moto: Moto) -> dict[str, str]:
    """botocore's own endpoint variable points every AWS client at moto."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": moto.endpoint}


def run_id_of(stderr: str) -> str:
    first = next(line for line in stderr.splitlines() if line.startswith("probe "))
    return first.split()[1].rstrip(":")


def assert_clean(ecs: Any, run_id: str) -> None:
    arns = ecs.list_tasks(cluster="probe", startedBy=run_id)["taskArns"]
    assert arns, "the probe started no task"
    tasks = ecs.describe_tasks(cluster="probe", tasks=arns)["tasks"]
    assert {t["startedBy"] for t in tasks} == {run_id}
    assert {(t["lastStatus"], t["desiredStatus"]) for t in tasks} == {("STOPPED", "STOPPED")}
    for family in ("soci-ci-probe-no-soci", "soci-ci-probe-soci"):
        active = ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")
        assert active["taskDefinitionArns"] == []


def test_probe_plumbing_twice_in_a_row(
    moto_server: Moto, aws: dict[str, Any], tmp_path: Path
) -> None:
    config = write_config(tmp_path, aws["subnet"], timeout=30)
    run_ids = []
    for attempt in (1, 2):  # a second probe never trips over the first
        out = tmp_path / f"result-{attempt}.json"
        done = run_probe(config, "--output-json", str(out), env=env(moto_server), timeout=120)
        assert done.returncode == 0, done.stderr
        run_id = run_id_of(done.stderr)
        run_ids.append(run_id)
        result = json.loads(out.read_text())
        assert result["run_id"] == run_id and result["cluster"] == "probe"
        assert [a["name"] for a in result["arms"]] == ["no-soci", "soci"]
        assert [a["image"] for a in result["arms"]] == [NO_SOCI, SOCI]
        runs = [r for a in result["arms"] for r in a["runs"]]
        assert len(runs) == 4
        # moto stops its tasks by itself without timestamps: classified, never crashed
        assert {(r["ok"], r["failure_kind"]) for r in runs} == {(False, "other")}
        assert all(r["task_arn"].startswith("arn:aws:ecs:us-east-1:") for r in runs)
        assert "| no-soci | total (created → ready) | 0 |" in done.stdout
        assert_clean(aws["ecs"], run_id)
    assert run_ids[0] != run_ids[1]


def test_sigterm_mid_run_cleans_up(moto_server: Moto, aws: dict[str, Any], tmp_path: Path) -> None:
    moto_server.set_transition("ecs::task", {"progression": "manual", "times": 1_000_000})
    try:
        config = write_config(tmp_path, aws["subnet"], timeout=600)
        proc = subprocess.Popen(
            probe_command(config),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(moto_server),
        )
        assert proc.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if line.startswith("run 2/4 soci RUNNING"):
                break
            assert line, "".join(seen)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        stderr = "".join(seen) + stderr
        assert proc.returncode == 130, stderr
        assert "error: interrupted by SIGTERM" in stderr
        assert stdout == ""
        run_id = run_id_of(stderr)
        assert_clean(aws["ecs"], run_id)
        arns = aws["ecs"].list_tasks(cluster="probe", startedBy=run_id)["taskArns"]
        assert len(arns) == 2  # runs 3 and 4 were never launched
    finally:
        moto_server.unset_transition("ecs::task")


def test_logs_read_incrementally_ready_line_and_snapshotter(
    moto_server: Moto, aws: dict[str, Any]
) -> None:
    logs = aws["logs"]
    api = LogsApi(client(moto_server, "logs"), retrier=Retrier(sleep=time.sleep))
    prefix = "run-logs"
    app = StreamCursor(group=LOG_GROUP, stream=f"{prefix}/app/0123abcd")
    check = StreamCursor(group=LOG_GROUP, stream=f"{prefix}/soci-ci-check/0123abcd")
    assert api.read(app) == [] and app.at_end  # stream not there yet
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=app.stream)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=check.stream)
    base = int(time.time() * 1000) - 60_000  # CloudWatch refuses events older than 14 days
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=app.stream,
        logEvents=[
            {"timestamp": base + 115, "message": "Picked up JAVA_TOOL_OPTIONS"},
            {"timestamp": base + 3841, "message": "Started App in 3.7 seconds (READY)"},
        ],
    )
    first = api.read(app)
    assert first == [
        (base + 115, "Picked up JAVA_TOOL_OPTIONS"),
        (base + 3841, "Started App in 3.7 seconds (READY)"),
    ]
    assert first_match(first, compile_user_regex("READY", key="k")) == base + 3841
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=app.stream,
        logEvents=[{"timestamp": base + 4000, "message": "READY again"}],
    )
    assert api.read(app) == [(base + 4000, "READY again")]  # only what is new
    assert api.read(app) == []
    document = {"Containers": [{"Name": "app", "KnownStatus": "RUNNING", "Snapshotter": "soci"}]}
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=check.stream,
        logEvents=[{"timestamp": base + 1000, "message": "soci-ci-check " + json.dumps(document)}],
    )
    messages = [m for _, m in api.read(check)]
    assert parse_snapshotter(messages, "app") is Snapshotter.SOCI

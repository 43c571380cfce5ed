"""`soci-ci probe` as a subprocess against the fake ECS + Logs behind the AWS JSON protocol.

botocore reaches the fake through its standard ``AWS_ENDPOINT_URL_ECS`` /
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` variables (no soci-ci test seam). The fake loses RunTask
answers, throttles in several forms, serves empty log pages, refuses capacity, hides young
tasks from ListTasks; the probe is also stopped with SIGTERM and killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from soci_ci.probe import task_definition
from tests.fakes.aws_server import AwsFakeServer, ScaledClock
from tests.fakes.ecs import FakeAws, FakeTask, Script
from tests.support.probe import CHECK, probe_command, run_probe

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEED = 20.0
PLAIN = Script(app_lines=((0.05, "booting"), (0.3, "READY on :8080")))
LAZY = Script(
    pull_stopped=21.523,
    started=23.523,
    app_lines=((0.2, "booting"), (3.841, "READY on :8080")),
    snapshotter="soci",
)


@pytest.fixture
def fake() -> Iterator[AwsFakeServer]:
    aws = FakeAws(clock=ScaledClock(SPEED), list_lag=5.0 * SPEED, empty_pages=True)  # type: ignore[arg-type]
    server = AwsFakeServer(aws)
    with server.running():
        yield server


def write_config(tmp_path: Path, timeout: int = 30) -> Path:
    config = tmp_path / "soci-ci.yml"
    config.write_text(
        "version: 1\n"
        "probe:\n"
        "  runs: 2\n"
        "  concurrency: 2\n"
        "  execution_role_arn: arn:aws:iam::123456789012:role/soci-ci-probe-exec\n"
        "  log_group: /soci-ci/probe\n"
        f"  check_image: {CHECK}\n"
        "  network: {subnets: [subnet-0abc]}\n"
        f"  ready: {{log_regex: READY, timeout_seconds: {timeout}}}\n"
        "  tags: {cost-center: ci}\n"
        "  poll_seconds: 0.1\n"
    )
    return config


def env(server: AwsFakeServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **clean,
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL_ECS": server.endpoint,
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_hostile_aws_probe_completes_and_leaves_nothing(
    fake: AwsFakeServer, tmp_path: Path
) -> None:
    aws = fake.aws
    aws.scripts = [
        PLAIN,
        Script(run_failure="Capacity is unavailable at this time. Please try again later."),
        LAZY,
        PLAIN,
        LAZY,
    ]
    aws.lose_answer_of_run = {1, 3}  # the task exists, the answer is lost (connection drop)
    aws.lose_answer_code = "timeout"
    aws.throttle = {"RunTask": 1, "DescribeTasks": 2, "GetLogEvents": 2}
    aws.throttle_error = (
        "InvalidParameterException",
        "Error retrieving subnet information for [subnet-0abc]: Request limit exceeded "
        "(RequestLimitExceeded)",
    )
    out = tmp_path / "probe.json"
    done = run_probe(write_config(tmp_path), "--output-json", str(out), env=env(fake))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    runs = [r for arm in result["arms"] for r in arm["runs"]]
    assert [r["ok"] for r in runs] == [True] * 4, done.stderr
    assert [r["failure_kind"] for r in result["retried"]] == ["capacity"]
    assert result["leftovers"] == []
    soci = next(a for a in result["arms"] if a["name"] == "soci")
    assert {r["snapshotter"] for r in soci["runs"]} == {"soci"}
    state = fake.state()
    assert len(state["tasks"]) == 4  # lost answers did not start extra tasks
    assert state["running"] == []
    assert state["active_definitions"] == []
    assert set(state["definitions"].values()) == {"DELETE_IN_PROGRESS"}
    for task in aws.tasks.values():
        keys = {t["key"]: t["value"] for t in task.tags}
        assert keys[task_definition.TAG_RUN] == task.started_by
        assert keys["cost-center"] == "ci" and task_definition.TAG_DEADLINE in keys


def _described_after_run(calls: list[str]) -> bool:
    """DescribeTasks called after the last RunTask (the probe has the RunTask answers)."""
    seen = list(calls)
    return "RunTask" in seen and "DescribeTasks" in seen[len(seen) - seen[::-1].index("RunTask") :]


def test_sigterm_mid_run_exits_130_and_cleans_up(fake: AwsFakeServer, tmp_path: Path) -> None:
    # Never ready and never ended by its watchdog (37 s of real time at SPEED): nothing but
    # the probe's own StopTask ends these tasks, so the run is mid-way whenever SIGTERM comes.
    fake.aws.default_script = Script(app_lines=(), watchdog=False)
    proc = subprocess.Popen(
        probe_command(write_config(tmp_path, timeout=600)),
        env=env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Both tasks created and both RunTask answers in the probe's hands: it polls them.
        wait_for(lambda: len(fake.aws.tasks) == 2 and _described_after_run(fake.aws.calls), 60)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    state = fake.state()
    assert state["running"] == [] and state["active_definitions"] == []
    assert len(state["tasks"]) == 2  # the first wave only: no run started after SIGTERM
    assert {t["stopCode"] for t in state["tasks"]} == {"UserInitiated"}  # by the probe


def test_sigkill_tasks_end_at_their_deadline_and_the_next_run_stops_stale_ones(
    fake: AwsFakeServer, tmp_path: Path
) -> None:
    aws = fake.aws
    aws.default_script = Script(app_lines=())
    config = write_config(tmp_path, timeout=5)  # task deadline: 5 + 120 s (fake time)
    proc = subprocess.Popen(
        probe_command(config), env=env(fake), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: len(aws.tasks) == 2, 60)
    finally:
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait()
    assert len(fake.state()["running"]) == 2
    # 28.5 s to start + 125 s deadline, in fake time: ~8 s of real time
    wait_for(lambda: fake.state()["running"] == [], 30)
    stopped = {t["stopCode"] for t in fake.state()["tasks"]}
    assert stopped == {"EssentialContainerExited"}  # the watchdog, not soci-ci
    # an earlier run's task past its deadline, still running: the next probe stops it
    stale_arn = "arn:aws:ecs:us-east-1:123456789012:task/default/" + "f" * 32
    definition = next(iter(aws.definitions))
    with fake.lock:
        aws.tasks[stale_arn] = FakeTask(
            arn=stale_arn,
            definition=definition,
            started_by="soci-ci-probe-19990101000000-000000",
            created=aws.clock.now - timedelta(hours=2),
            script=Script(app_lines=(), snapshotter=None),
            tags=[
                {"key": task_definition.TAG_RUN, "value": "soci-ci-probe-19990101000000-000000"},
                {"key": task_definition.TAG_DEADLINE, "value": str(int(time.time()) - 60)},
            ],
        )
    aws.default_script = PLAIN
    done = run_probe(config, "--runs", "1", env=env(fake))
    assert done.returncode == 0, done.stderr
    assert "stopped 1 stale task(s) of earlier probe runs" in done.stderr
    assert aws.tasks[stale_arn].stop_reason.startswith("soci-ci probe: stale task")
    assert fake.state()["running"] == []


def test_check_prints_definitions_and_starts_nothing(fake: AwsFakeServer, tmp_path: Path) -> None:
    done = run_probe(write_config(tmp_path), "--check", env=env(fake), timeout=120)
    assert done.returncode == 0, done.stderr
    definitions = json.loads(done.stdout)["task_definitions"]
    assert sorted(definitions) == ["no-soci", "soci"]
    check = definitions["soci"]["containerDefinitions"][1]
    assert check["name"] == "soci-ci-check" and check["essential"] is True
    assert "dependsOn" not in json.dumps(definitions)
    assert fake.requests == []  # no AWS call at all


@pytest.mark.parametrize(
    ("drop", "key"),
    [("log_group", "probe.log_group"), ("execution_role_arn", "probe.execution_role_arn")],
)
def test_missing_keys_exit_2_before_any_aws_call(
    fake: AwsFakeServer, tmp_path: Path, drop: str, key: str
) -> None:
    config = write_config(tmp_path)
    config.write_text(
        "".join(line for line in config.read_text().splitlines(True) if f"  {drop}:" not in line)
    )
    done = run_probe(config, env=env(fake), timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {key} is required"), done.stderr
    assert fake.requests == []


def test_smoke_in_a_subprocess_reports_and_cleans_up(fake: AwsFakeServer, tmp_path: Path) -> None:
    report = tmp_path / "smoke.md"
    done = run_probe(
        write_config(tmp_path),
        "--smoke",
        "--output-markdown",
        str(report),
        env=env(fake),
        images=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == report.read_text()
    assert done.stdout.startswith("### soci-ci probe --smoke (")
    assert "- leftovers: none" in done.stdout
    state = fake.state()
    assert len(state["tasks"]) == 2 and state["running"] == []
    assert state["active_definitions"] == []

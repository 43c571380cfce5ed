"""The probe orchestration against the fake ECS + Logs (recorded-style Fargate lifecycles)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from soci_ci.errors import AwsError, Interrupted
from soci_ci.probe.model import ArmName, FailureKind, Phase, Snapshotter, Stamp
from tests.fakes.ecs import T0, FakeAws, FakeClock, Script
from tests.support.probe import (
    NO_SOCI,
    PLAIN_SCRIPT,
    REPO,
    RUN_ID,
    SOCI,
    SOCI_SCRIPT,
    assert_clean,
    make_probe,
)


def test_interleaved_runs_timed_phase_by_phase_and_cleaned_up() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT, PLAIN_SCRIPT, SOCI_SCRIPT])
    probe, lines = make_probe(aws, clock)
    result = probe.run()

    assert [a.name for a in result.arms] == [ArmName.NO_SOCI, ArmName.SOCI]
    plain, soci = result.arms
    assert [r.ok for r in plain.runs + soci.runs] == [True] * 4
    first = plain.runs[0]
    assert first.timestamps[Stamp.CREATED] == T0
    assert first.timestamps[Stamp.READY] == T0 + timedelta(seconds=28.523 + 0.115)
    assert dict(first.phases) == {
        Phase.PROVISIONING: 19.523,
        Phase.PULL: 7.0,
        Phase.START: 2.0,
        Phase.APP_READY: 0.115,
        Phase.TOTAL: 28.638,
        Phase.CREATED_TO_RUNNING: 28.523,
        Phase.RUNNING_TO_READY: 0.115,
        Phase.PULL_TO_READY: 9.115,
    }
    assert first.snapshotter is Snapshotter.OVERLAYFS and first.soci_engaged is False
    assert soci.runs[1].snapshotter is Snapshotter.SOCI and soci.runs[1].soci_engaged is True
    assert soci.stats[Phase.PULL].median == 2.0
    assert soci.stats[Phase.TOTAL].n == 2
    assert soci.stats[Phase.TOTAL].median == 27.364
    # interleaved: A B A B, both arms' revisions pinned by digest
    run_defs = [aws.tasks[a].definition for a in aws.tasks]
    assert [d.rsplit("/", 1)[1] for d in run_defs] == [
        "soci-ci-probe-no-soci:1",
        "soci-ci-probe-soci:1",
        "soci-ci-probe-no-soci:1",
        "soci-ci-probe-soci:1",
    ]
    images = {d["family"]: d["containerDefinitions"][0]["image"] for d in aws.definitions.values()}
    assert images == {"soci-ci-probe-no-soci": NO_SOCI, "soci-ci-probe-soci": SOCI}
    assert all(t.started_by == RUN_ID for t in aws.tasks.values())
    assert_clean(aws)
    # progress lines: which run, which state, elapsed
    assert "run 1/4 no-soci PROVISIONING 0.0s" in lines
    assert any(re.fullmatch(r"run 2/4 soci RUNNING \d+\.\ds", line) for line in lines)


def test_failures_are_results_and_classified() -> None:
    clock = FakeClock()
    scripts = [
        Script(
            connectivity=10.0,
            pull_started=12.0,
            pull_stopped=None,
            started=None,
            stop_at=40.0,
            stopped_reason="CannotPullContainerError: pull image manifest has been retried 5 "
            "time(s): failed to resolve ref: not found",
            stop_code="TaskFailedToStart",
        ),
        Script(
            app_lines=(),
            stop_at=31.0,
            stopped_reason="Essential container in task exited",
            stop_code="EssentialContainerExited",
            exit_code=137,
            snapshotter="soci",
        ),
        Script(app_lines=((0.1, "booting"),), snapshotter="overlayfs"),  # never READY
        Script(run_failure="Capacity is unavailable at this time. Please try again later."),
    ]
    aws = FakeAws(clock=clock, scripts=scripts)
    probe, lines = make_probe(
        aws, clock, infra_retries=0, ready={"log_regex": "READY", "timeout_seconds": 120}
    )
    result = probe.run()
    runs = {(r.arm, r.index): r for arm in result.arms for r in arm.runs}
    pull = runs[ArmName.NO_SOCI, 1]
    assert (pull.ok, pull.failure_kind) == (False, FailureKind.CANNOT_PULL)
    assert pull.failure_reason is not None and "not found" in pull.failure_reason
    assert Phase.PULL not in pull.phases and pull.phases[Phase.PROVISIONING] == 12.0
    exited = runs[ArmName.SOCI, 1]
    assert exited.failure_kind is FailureKind.ESSENTIAL_CONTAINER_EXITED
    assert exited.failure_reason == "Essential container in task exited (exit code 137)"
    never = runs[ArmName.NO_SOCI, 2]
    assert never.failure_kind is FailureKind.NEVER_READY
    assert never.failure_reason == "not ready within 120 s (last status RUNNING)"
    capacity = runs[ArmName.SOCI, 2]
    assert capacity.failure_kind is FailureKind.CAPACITY and capacity.task_arn is None
    assert (
        "run 4/4 soci RunTask failed: Capacity is unavailable at this time. "
        "Please try again later. fake" in lines
    )
    for arm in result.arms:
        assert arm.stats[Phase.TOTAL].n == 0
    assert_clean(aws)


def test_soci_not_engaged_is_not_counted() -> None:
    clock = FakeClock()
    overlay = Script(app_lines=((1.0, "READY"),), snapshotter="overlayfs")
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, overlay], default_script=SOCI_SCRIPT)
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    soci = result.arms[1].runs[0]
    assert (soci.ok, soci.failure_kind, soci.soci_engaged) == (
        False,
        FailureKind.SOCI_NOT_ENGAGED,
        False,
    )
    assert soci.phases[Phase.TOTAL] == 29.523  # timings are kept, just not counted
    assert result.arms[1].stats[Phase.TOTAL].n == 0


def test_unknown_snapshotter_after_grace_and_fallback_to_started() -> None:
    clock = FakeClock()
    silent = Script(app_lines=(), snapshotter=None)
    aws = FakeAws(clock=clock, default_script=silent)
    probe, _ = make_probe(aws, clock, runs=1, ready={"fallback": "started"})
    result = probe.run()
    for arm in result.arms:
        run = arm.runs[0]
        assert run.ok and run.snapshotter is Snapshotter.UNKNOWN and run.soci_engaged is None
        assert run.phases[Phase.RUNNING_TO_READY] == 0.0
    assert_clean(aws)


def test_health_fallback_uses_poll_time() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=Script(app_lines=(), healthy_at=40.0))
    probe, _ = make_probe(
        aws, clock, runs=1, concurrency=1, snapshotter_check=False, ready={"fallback": "health"}
    )
    result = probe.run()
    run = result.arms[0].runs[0]
    assert run.ok
    assert 40.0 <= run.phases[Phase.TOTAL] < 43.0  # bounded by the 3 s poll interval


def test_throttling_within_budget_completes() -> None:
    clock = FakeClock()
    aws = FakeAws(
        clock=clock,
        scripts=[PLAIN_SCRIPT, SOCI_SCRIPT],
        throttle={"RegisterTaskDefinition": 3, "RunTask": 2, "DescribeTasks": 4},
    )
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    assert all(r.ok for arm in result.arms for r in arm.runs)
    assert aws.calls.count("RunTask") == 4  # 2 throttled + 2 launches
    assert len(aws.tasks) == 2
    assert_clean(aws)


def test_throttling_beyond_budget_is_aws_error_after_cleanup() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=PLAIN_SCRIPT, throttle={"DescribeTasks": 100})
    probe, _ = make_probe(aws, clock, budget=3)
    with pytest.raises(AwsError) as caught:
        probe.run()
    assert caught.value.throttled is True
    assert str(caught.value) == "DescribeTasks still throttled after 4 attempts"
    assert len(aws.tasks) == 2
    assert_clean(aws)


@pytest.mark.parametrize("lost", ["ServerException", "timeout"])
def test_lost_run_task_answer_is_recovered_with_the_same_client_token(lost: str) -> None:
    clock = FakeClock()
    aws = FakeAws(
        clock=clock,
        default_script=PLAIN_SCRIPT,
        lose_answer_of_run={2},
        lose_answer_code=lost,
        list_lag=30.0,  # ListTasks would not show the task: only the token finds it
    )
    probe, _ = make_probe(aws, clock)
    result = probe.run()
    assert len(aws.tasks) == 4  # the retried call did not start a second task
    assert [len(arm.runs) for arm in result.arms] == [2, 2]
    assert all(r.task_arn in aws.tasks for arm in result.arms for r in arm.runs)
    assert result.leftovers == ()
    assert_clean(aws)


def test_run_task_never_answering_is_resolved_at_cleanup() -> None:
    """RunTask keeps failing after it created the task: cleanup asks again with the token."""
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=PLAIN_SCRIPT, lose_answer_of_run={1}, list_lag=1000.0)
    aws.throttle_error = (
        "InvalidParameterException",
        "Request limit exceeded (RequestLimitExceeded)",
    )
    probe, _ = make_probe(aws, clock, budget=0, runs=1)
    with pytest.raises(AwsError, match="RunTask: no answer after 1 attempts"):
        probe.run()
    assert len(aws.tasks) == 1
    assert_clean(aws)  # found through its clientToken, though ListTasks never showed it


def test_eventually_consistent_list_tasks_is_swept_until_it_agrees() -> None:
    """A task whose RunTask answer was lost by an interrupt, hidden from ListTasks for 10 s."""
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=PLAIN_SCRIPT, list_lag=10.0)
    probe, _ = make_probe(aws, clock, runs=1)
    probe.state.register_uncertain = False
    probe._register()
    # a task of this run exists, but neither its answer nor its token was kept
    aws.ecs.run_task(
        **probe.ecs.run_task_kwargs(
            task_definition=probe.state.revisions["soci"],
            count=1,
            settings=probe.settings,
            started_by=RUN_ID,
            client_token="lost",
            tags={},
        )
    )
    probe.state.last_run_task = clock()
    assert probe.cleaner.run() == []
    assert aws.calls.count("ListTasks") >= 2  # the first listing did not show it yet
    assert_clean(aws)


def test_request_limit_exceeded_inside_invalid_parameter_is_throttling() -> None:
    clock = FakeClock()
    aws = FakeAws(
        clock=clock,
        scripts=[PLAIN_SCRIPT, SOCI_SCRIPT],
        throttle={"RunTask": 3},
        throttle_error=(
            "InvalidParameterException",
            "Error retrieving subnet information for [subnet-0abc]: Request limit exceeded "
            "(RequestLimitExceeded)",
        ),
    )
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    assert all(r.ok for arm in result.arms for r in arm.runs)
    assert_clean(aws)


def test_interrupt_mid_run_cleans_up() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=PLAIN_SCRIPT)
    probe, _ = make_probe(aws, clock, runs=3)

    def interrupt(seconds: float) -> None:
        if clock.slept >= 12:
            clock.on_sleep = None
            raise Interrupted("interrupted by SIGTERM")

    clock.on_sleep = interrupt
    with pytest.raises(Interrupted):
        probe.run()
    assert len(aws.tasks) == 2
    assert all(t.stop_reason == "soci-ci probe finished" for t in aws.tasks.values())
    assert_clean(aws)


def test_derived_from_user_task_definition() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=PLAIN_SCRIPT)
    aws.base_definition = {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "family": "web",
        "revision": 7,
        "status": "ACTIVE",
        "cpu": "512",
        "memory": "1024",
        "containerDefinitions": [
            {"name": "app", "image": f"{REPO}:latest", "portMappings": [{"containerPort": 80}]}
        ],
        "compatibilities": ["EC2", "FARGATE"],
    }
    probe, _ = make_probe(aws, clock, runs=1, task_definition="web")
    probe.run()
    families = sorted(d["family"] for d in aws.definitions.values())
    assert families == ["soci-ci-probe-no-soci", "soci-ci-probe-soci"]
    for definition in aws.definitions.values():
        assert definition["cpu"] == "512"
        app = definition["containerDefinitions"][0]
        assert app["portMappings"] == [{"containerPort": 80}]
        assert "compatibilities" not in definition
    assert_clean(aws)


def test_throttled_after_creation_retries_with_the_same_client_token() -> None:
    clock = FakeClock()
    aws = FakeAws(
        clock=clock,
        scripts=[PLAIN_SCRIPT, SOCI_SCRIPT],
        lose_answer_of_run={1},
        lose_answer_code="ThrottlingException",
    )
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    assert len(aws.tasks) == 2  # the retry did not start a second task
    assert [r.ok for arm in result.arms for r in arm.runs] == [True, True]
    assert aws.calls.count("RunTask") == 3
    assert_clean(aws)


def test_concurrency_limit_holds() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT] * 4)
    probe, _ = make_probe(aws, clock, runs=4, concurrency=3)
    result = probe.run()
    assert sum(r.ok for arm in result.arms for r in arm.runs) == 8
    spans = [(t.created, t.stopping_time()) for t in aws.tasks.values()]
    for created, _ in spans:
        overlapping = [1 for a, b in spans if b is not None and a <= created < b]
        assert len(overlapping) <= 3
    assert (
        max(sum(1 for a, b in spans if b is not None and a <= c < b) for c, _ in spans) == 3
    )  # the window is actually used
    assert_clean(aws)


def test_ready_line_beats_the_started_fallback() -> None:
    clock = FakeClock()
    late = Script(app_lines=((6.0, "READY"),), snapshotter="overlayfs")
    aws = FakeAws(clock=clock, scripts=[late, SOCI_SCRIPT])
    probe, _ = make_probe(aws, clock, runs=1, ready={"log_regex": "READY", "fallback": "started"})
    result = probe.run()
    assert result.arms[0].runs[0].phases[Phase.RUNNING_TO_READY] == 6.0
    assert result.arms[1].runs[0].phases[Phase.RUNNING_TO_READY] == 3.841

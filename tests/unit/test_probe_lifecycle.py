"""What keeps a probe safe on real Fargate, against the fake ECS: stale tasks, the watchdog,
infrastructure failures re-run, the check container, config that registers or explains."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soci_ci.errors import ConfigError
from soci_ci.probe import preflight, schedule, task_definition
from soci_ci.probe.ecs import EcsApi, Retrier
from soci_ci.probe.logs import LogsApi, StreamCursor
from soci_ci.probe.model import ArmName, FailureKind
from soci_ci.probe.runner import FIRST_LINE_WARNING
from soci_ci.probe.settings import ProbeSettings
from tests.fakes.ecs import FakeAws, FakeClock, FakeTask, Script
from tests.support.probe import (
    CHECK_IMAGE,
    PLAIN_SCRIPT,
    REQUIRED,
    RUN_ID,
    SOCI_SCRIPT,
    assert_clean,
    make_probe,
)


def earlier_task(aws: FakeAws, *, run_id: str, deadline: float | None, age: float) -> str:
    """A task left running by an earlier (killed) probe run."""
    arn = f"arn:aws:ecs:us-east-1:123456789012:task/default/{'e' * 31}{len(aws.tasks)}"
    definition = "arn:aws:ecs:us-east-1:123456789012:task-definition/soci-ci-probe-soci:1"
    aws.definitions.setdefault(
        definition,
        {"family": "soci-ci-probe-soci", "status": "INACTIVE", "containerDefinitions": []},
    )
    tags = [{"key": task_definition.TAG_RUN, "value": run_id}]
    if deadline is not None:
        tags.append({"key": task_definition.TAG_DEADLINE, "value": str(int(deadline))})
    aws.tasks[arn] = FakeTask(
        arn=arn,
        definition=definition,
        started_by=run_id,
        created=aws.clock.now - timedelta(seconds=age),
        script=Script(snapshotter=None, app_lines=()),
        tags=tags,
    )
    return arn


def test_each_start_stops_stale_tasks_of_earlier_runs_past_their_deadline() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT])
    now = clock.now.timestamp()
    stale = earlier_task(aws, run_id="soci-ci-probe-old-1", deadline=now - 10, age=900)
    young = earlier_task(aws, run_id="soci-ci-probe-old-2", deadline=now + 600, age=60)
    untagged = earlier_task(aws, run_id="soci-ci-probe-old-3", deadline=None, age=3600)
    probe, lines = make_probe(aws, clock, runs=1)
    probe.run()
    assert aws.tasks[stale].stopped_by_user is not None
    assert aws.tasks[untagged].stopped_by_user is not None
    assert aws.tasks[young].stopped_by_user is None  # another probe may still be using it
    assert "stopped 2 stale task(s) of earlier probe runs" in lines
    assert aws.tasks[stale].stop_reason.startswith("soci-ci probe: stale task")


def test_a_killed_probe_leaves_tasks_that_end_at_their_deadline() -> None:
    """SIGKILL: no cleanup at all. The essential check container ends each task."""
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=Script(app_lines=()))  # never ready
    probe, _ = make_probe(aws, clock, runs=1, ready={"log_regex": "READY", "timeout_seconds": 60})
    probe._register()
    queue = schedule.interleave([ArmName.NO_SOCI, ArmName.SOCI], 1)
    for launch in schedule.launches(queue):
        probe._launch(launch, [], [])
    assert len(aws.running()) == 2
    deadline = probe.settings.task_deadline_seconds
    assert deadline == 180
    clock.sleep(28.523 + deadline - 1)
    assert len(aws.running()) == 2
    clock.sleep(2)
    assert aws.running() == []
    described = aws.ecs.describe_tasks(cluster="default", tasks=list(aws.tasks))["tasks"]
    assert {t["stopCode"] for t in described} == {"EssentialContainerExited"}


def test_infrastructure_failures_are_re_run_and_reported_apart() -> None:
    clock = FakeClock()
    scripts = [
        Script(run_failure="Capacity is unavailable at this time. Please try again later."),
        SOCI_SCRIPT,
        Script(
            stop_at=30.0,
            stop_code="SpotInterruption",
            stopped_reason="Your Spot Task was interrupted.",
        ),
        PLAIN_SCRIPT,
    ]
    aws = FakeAws(clock=clock, scripts=scripts, default_script=SOCI_SCRIPT)
    probe, lines = make_probe(aws, clock, runs=1)
    result = probe.run()
    plain, soci = result.arms
    assert [r.ok for r in plain.runs + soci.runs] == [True, True]
    assert plain.runs[0].attempt == 3  # capacity, then a Spot interruption, then it ran
    assert [r.failure_kind for r in result.retried] == [
        FailureKind.CAPACITY,
        FailureKind.SPOT_INTERRUPTION,
    ]
    assert any("infrastructure failure (capacity), re-running" in line for line in lines)
    assert_clean(aws)


def test_infrastructure_failures_past_the_budget_are_not_image_failures() -> None:
    clock = FakeClock()
    full = Script(
        run_failure="You've reached the limit on the number of vCPUs you can run concurrently"
    )
    aws = FakeAws(clock=clock, default_script=full)
    probe, _ = make_probe(aws, clock, runs=1, infra_retries=1)
    result = probe.run()
    for arm in result.arms:
        assert arm.failures == ()  # nothing against the image
        assert [r.failure_kind for r in arm.infrastructure_failures] == [FailureKind.QUOTA]
    assert len(result.retried) == 1


def test_check_container_pull_failure_is_its_own_kind() -> None:
    clock = FakeClock()
    broken = Script(
        pull_stopped=None,
        started=None,
        stop_at=40.0,
        stop_code="TaskFailedToStart",
        stopped_reason="CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        f"failed to resolve ref {CHECK_IMAGE}: not found",
        check_reason="CannotPullContainerError: not found",
    )
    aws = FakeAws(clock=clock, default_script=broken)
    probe, _ = make_probe(aws, clock, runs=1, infra_retries=0)
    result = probe.run()
    for arm in result.arms:
        run = arm.runs[0]
        assert run.failure_kind is FailureKind.CHECK_CONTAINER
        assert run.failure_reason is not None
        assert run.failure_reason.startswith("soci-ci's check container failed, not the app")
        assert arm.failures == ()


def test_snapshotter_report_before_the_app_runs_is_not_trusted() -> None:
    """The fake's first report shows the app PULLED with the default overlayfs."""
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT])
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    assert result.arms[1].runs[0].ok and result.arms[1].runs[0].soci_engaged is True


def test_first_log_line_readiness_warns() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT])
    probe, lines = make_probe(aws, clock, runs=1, ready={})
    result = probe.run()
    assert result.warnings == (FIRST_LINE_WARNING,)
    assert f"warning: {FIRST_LINE_WARNING}" in lines
    from soci_ci.report.comment import md_text
    from soci_ci.report.probe import render

    assert render(result).startswith(f"**Warning:** {md_text(FIRST_LINE_WARNING)}\n")


def test_health_check_readiness() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=Script(app_lines=((0.1, "x"),), healthy_at=35.0))
    probe, _ = make_probe(
        aws, clock, runs=1, ready={"health_check": {"command": ["CMD-SHELL", "true"]}}
    )
    result = probe.run()
    assert result.warnings == ()
    app = next(iter(aws.definitions.values()))["containerDefinitions"][0]
    assert app["healthCheck"]["command"] == ["CMD-SHELL", "true"]
    run = result.arms[0].runs[0]
    assert run.ok and 35.0 <= run.phases["total"] < 38.1  # type: ignore[index]


def test_empty_log_pages_do_not_end_a_read() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT], empty_pages=True)
    probe, _ = make_probe(aws, clock, runs=1)
    probe._register()
    probe._launch(schedule.launches(schedule.interleave([ArmName.NO_SOCI], 1))[0], [], [])
    arn = next(iter(aws.tasks))
    clock.sleep(60)
    logs = LogsApi(aws.logs, retrier=Retrier(sleep=clock.sleep))
    cursor = StreamCursor(
        group="/soci-ci/probe", stream=task_definition.log_stream(RUN_ID, "app", arn)
    )
    calls = aws.calls.count("GetLogEvents")
    assert [m for _, m in logs.read(cursor)] == ["booting", "READY on :8080"]
    assert aws.calls.count("GetLogEvents") - calls == 5  # empty, event, empty, event, same token
    assert logs.read(cursor) == [] and cursor.at_end


@pytest.mark.parametrize(
    ("missing", "key"),
    [
        ("execution_role_arn", "probe.execution_role_arn is required"),
        ("log_group", "probe.log_group is required"),
        ("network", "probe.network.subnets is required"),
    ],
)
def test_missing_required_settings_name_their_key(missing: str, key: str) -> None:
    mapping = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ProbeSettings.from_mapping(mapping).validate_for_run(arms=2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cpu": "8192", "memory": "16384"}, "probe.cpu 8192 exceeds probe.max_cpu (4096)"),
        (
            {"cpu": "1024", "memory": "1024"},
            "probe.memory 1024 MiB is not valid with probe.cpu 1024",
        ),
        ({"cpu": "300"}, "probe.cpu 300 is not a Fargate size"),
        (
            {"runs": 100, "ready": {"timeout_seconds": 1800}},
            "probe.runs x arms x task deadline = 100 x 2 x 1920 s",
        ),
    ],
)
def test_caps(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProbeSettings.from_mapping({**REQUIRED, **extra}).validate_for_run(arms=2)
    assert str(caught.value).startswith(message)


def test_timeout_typo_is_refused() -> None:
    with pytest.raises(ConfigError, match="between 1 and 1800, not 86400"):
        ProbeSettings.from_mapping({**REQUIRED, "ready": {"timeout_seconds": 86400}})


def test_fargate_spot_must_be_on_the_cluster() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, capacity_providers=("FARGATE",))
    ecs = EcsApi(aws.ecs, cluster="default", retrier=Retrier(sleep=clock.sleep))
    spot = ProbeSettings.from_mapping({**REQUIRED, "capacity_provider": "FARGATE_SPOT"})
    with pytest.raises(ConfigError, match=r"FARGATE_SPOT is not attached to cluster 'default'"):
        preflight.check_cluster(ecs, spot)
    preflight.check_cluster(ecs, ProbeSettings.from_mapping(REQUIRED))
    missing = EcsApi(aws.ecs, cluster="nope", retrier=Retrier(sleep=clock.sleep))
    with pytest.raises(ConfigError, match=r"probe\.cluster: ECS cluster 'default' does not exist"):
        preflight.check_cluster(missing, ProbeSettings.from_mapping(REQUIRED))


def test_log_group_missing_or_created() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, log_groups=set())
    logs = LogsApi(aws.logs, retrier=Retrier(sleep=clock.sleep))
    settings = ProbeSettings.from_mapping(REQUIRED)
    with pytest.raises(ConfigError, match=r"probe\.log_group: log group '/soci-ci/probe' does not"):
        preflight.check_log_group(logs, settings, run_id=RUN_ID)
    allowed = ProbeSettings.from_mapping({**REQUIRED, "create_log_group": True})
    assert preflight.check_log_group(logs, allowed, run_id=RUN_ID) is True
    assert aws.log_groups == {"/soci-ci/probe"}
    assert preflight.check_log_group(logs, allowed, run_id=RUN_ID) is False


def test_stale_revisions_are_removed_only_after_their_runs_cap() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT])
    now = int(clock.now.timestamp())
    for name, expires in (("old", now - 1), ("busy", now + 3000)):
        arn = f"arn:aws:ecs:us-east-1:123456789012:task-definition/soci-ci-probe-soci:{name}"
        aws.definitions[arn] = {
            "family": "soci-ci-probe-soci",
            "status": "ACTIVE",
            "containerDefinitions": [],
            "tags": [
                {"key": task_definition.TAG_RUN, "value": f"soci-ci-probe-{name}"},
                {"key": task_definition.TAG_DEADLINE, "value": str(expires)},
            ],
        }
    foreign = "arn:aws:ecs:us-east-1:123456789012:task-definition/soci-ci-probe-soci:mine"
    aws.definitions[foreign] = {"family": "soci-ci-probe-soci", "status": "ACTIVE", "tags": []}
    probe, _ = make_probe(aws, clock, runs=1)
    probe.run()
    statuses = {a.rsplit(":", 1)[1]: d["status"] for a, d in aws.definitions.items()}
    assert statuses["old"] == "DELETE_IN_PROGRESS"
    assert statuses["busy"] == "ACTIVE"  # a concurrent probe may still use it
    assert statuses["mine"] == "ACTIVE"  # not soci-ci's


def test_tasks_not_started_by_soci_ci_are_never_stopped() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT])
    other = earlier_task(aws, run_id="someone-else", deadline=None, age=7200)
    aws.tasks[other].tags = []
    probe, _ = make_probe(aws, clock, runs=1)
    probe.run()
    assert aws.tasks[other].stopped_by_user is None


def test_lost_registration_answer_leaves_no_revision() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, scripts=[PLAIN_SCRIPT, SOCI_SCRIPT], lose_register_answer={1})
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    assert len(aws.definitions) == 3  # the lost answer's revision, its retry, the other arm
    assert aws.active_definitions() == [] and result.leftovers == ()


def test_preflight_denied_by_an_older_policy_is_a_warning() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, denied={"DescribeClusters", "DescribeLogGroups"})
    lines: list[str] = []
    retrier = Retrier(sleep=clock.sleep)
    settings = ProbeSettings.from_mapping(REQUIRED)
    preflight.check_cluster(
        EcsApi(aws.ecs, cluster="default", retrier=retrier), settings, lines.append
    )
    assert not preflight.check_log_group(
        LogsApi(aws.logs, retrier=retrier), settings, run_id=RUN_ID, warn=lines.append
    )
    assert lines[0].startswith("warning: cluster 'default' and its capacity providers not checked")
    assert lines[1].startswith("warning: log group '/soci-ci/probe' not checked")


def test_run_task_refused_for_quota_is_an_infrastructure_failure() -> None:
    """The limit comes back as an exception, not in failures[]: no task, the run is re-run."""
    clock = FakeClock()
    aws = FakeAws(
        clock=clock,
        scripts=[PLAIN_SCRIPT, SOCI_SCRIPT],
        throttle={"RunTask": 1},
        throttle_error=(
            "ClientException",
            "You've reached the limit on the number of tasks you can run concurrently",
        ),
    )
    probe, _ = make_probe(aws, clock, runs=1, concurrency=1)
    result = probe.run()
    assert [r.ok for arm in result.arms for r in arm.runs] == [True, True]
    assert [r.failure_kind for r in result.retried] == [FailureKind.QUOTA]
    assert probe.state.unresolved == {}
    assert_clean(aws)


def test_out_of_order_ecs_timestamps_are_flagged_not_negative() -> None:
    clock = FakeClock()
    odd = Script(app_lines=((0.05, "READY"),), out_of_order=True)
    aws = FakeAws(clock=clock, scripts=[odd, SOCI_SCRIPT])
    probe, _ = make_probe(aws, clock, runs=1)
    result = probe.run()
    run = result.arms[0].runs[0]
    assert run.ok and min(run.phases.values()) >= 0.0
    assert run.phases["start"] == 0.0  # type: ignore[index]
    assert run.anomalies == ("startedAt is 0.200 s before pullStoppedAt (clamped)",)
    from soci_ci.report.probe import render

    assert "- no-soci run 1: startedAt is 0.200 s before pullStoppedAt (clamped)" in render(result)

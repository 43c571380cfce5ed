"""`soci-ci probe --smoke` against the fake ECS: what it runs, what it reports, what it leaves."""

from __future__ import annotations

from soci_ci.probe import smoke
from soci_ci.probe.ecs import EcsApi, Retrier
from soci_ci.probe.logs import LogsApi
from soci_ci.probe.settings import ProbeSettings
from tests.fakes.ecs import FakeAws, FakeClock, Script
from tests.support.probe import CHECK_IMAGE, REQUIRED, RUN_ID


def test_smoke_runs_two_tasks_reports_and_cleans_up() -> None:
    clock = FakeClock()
    aws = FakeAws(clock=clock, default_script=Script(app_lines=((0.1, "smoke-app-started"),)))
    retrier = Retrier(sleep=clock.sleep)
    lines: list[str] = []
    report = smoke.run(
        ecs=EcsApi(aws.ecs, cluster="default", retrier=retrier),
        logs=LogsApi(aws.logs, retrier=retrier),
        settings=ProbeSettings.from_mapping(REQUIRED),
        image=CHECK_IMAGE,
        region="us-east-1",
        run_id=RUN_ID,
        clock=clock,
        sleep=clock.sleep,
        progress=lines.append,
    )
    assert len(aws.tasks) == 2
    assert aws.running() == [] and aws.active_definitions() == []
    families = {d["family"] for d in aws.definitions.values()}
    assert families == {"soci-ci-probe-smoke"}
    nonessential = next(d for d in aws.definitions.values() if len(d["containerDefinitions"]) == 3)[
        "containerDefinitions"
    ][2]
    assert nonessential["essential"] is False and nonessential["image"].endswith("0" * 64)
    assert report.startswith("### soci-ci probe --smoke (")
    assert "- memory limit with a derived definition: accepted by RegisterTaskDefinition" in report
    assert "- StopTask on a stopped task: accepted (no error)" in report
    assert "- leftovers: none" in report
    assert '"pullStartedAt"' in report and '"first_check_report"' in report
    assert sum(d["status"] == "DELETE_IN_PROGRESS" for d in aws.definitions.values()) == 3

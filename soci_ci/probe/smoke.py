"""`soci-ci probe --smoke`: what only real Fargate can answer, in the user's own account.

Two tiny tasks (0.25 vCPU, 0.5 GB, about 3 minutes: well under $0.01 on-demand) and one
registration attempt, all tagged with the run id and cleaned up like a probe:
- **ordering**: the stand-in app and the check container (no ``dependsOn``): do the task's
  pull/start timestamps move, and which container started first;
- **non-essential pull failure**: a third, non-essential container whose image does not
  exist: does the task still run, what does ECS report;
- **StopTask on a stopped task**: its answer;
- **memory limit**: a derived definition whose containers reserve more than the task memory:
  does RegisterTaskDefinition refuse it (soci-ci refuses it before registering).
The report is short Markdown to paste into an issue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from soci_ci import __version__
from soci_ci.errors import AwsError
from soci_ci.oci.image_ref import repository_of
from soci_ci.probe import check_image, cleanup, task_definition
from soci_ci.probe.ecs import EcsApi
from soci_ci.probe.logs import LogsApi, StreamCursor
from soci_ci.probe.settings import ProbeSettings
from soci_ci.probe.timeline import to_datetime

FAMILY = task_definition.family_name("smoke")
APP = "app"
MISSING = "missing-image"
WAIT_SECONDS = 300.0
RUN_SECONDS = 20.0  # how long a task runs once RUNNING before it is stopped
DEADLINE_SECONDS = 240


def _definition(
    settings: ProbeSettings, *, image: str, region: str, run_id: str, extra: bool, memory: int
) -> dict[str, Any]:
    assert settings.log_group is not None
    logging_config = task_definition.log_configuration(settings.log_group, region, run_id)
    containers: list[dict[str, Any]] = [
        {
            "name": APP,
            "image": image,
            "essential": True,
            "entryPoint": list(check_image.ENTRYPOINT),
            "command": ["echo smoke-app-started; sleep 600"],
            "logConfiguration": logging_config,
        },
        check_image.container(
            image, deadline_seconds=DEADLINE_SECONDS, log_configuration=logging_config
        ),
    ]
    if extra:
        repository = repository_of(image)
        containers.append(
            {
                "name": MISSING,
                "image": f"{repository}@sha256:{'0' * 64}",
                "essential": False,
                "logConfiguration": logging_config,
            }
        )
    if memory:
        containers[0]["memory"] = memory
    tags = task_definition.resource_tags(run_id, settings.tags)
    spec: dict[str, Any] = {
        "family": FAMILY,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "runtimePlatform": {
            "cpuArchitecture": str(settings.architecture),
            "operatingSystemFamily": "LINUX",
        },
        "executionRoleArn": settings.execution_role_arn,
        "containerDefinitions": containers,
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    return spec


def _stamps(task: dict[str, Any]) -> dict[str, str | None]:
    keys = ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppedAt")
    out: dict[str, str | None] = {}
    for key in keys:
        value = to_datetime(task.get(key))
        out[key] = None if value is None else value.isoformat()
    return out


def _containers(task: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("name", "lastStatus", "exitCode", "reason")
    return [
        {k: c.get(k) for k in keys if c.get(k) is not None} for c in task.get("containers") or ()
    ]


def run(
    *,
    ecs: EcsApi,
    logs: LogsApi,
    settings: ProbeSettings,
    image: str,
    region: str,
    run_id: str,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> str:
    state = cleanup.RunState(run_id=run_id)
    cleaner = cleanup.Cleaner(ecs, state, clock=clock, sleep=sleep)
    answers: dict[str, Any] = {}
    try:
        # memory limit: does AWS refuse containers reserving more than the task memory?
        spec = _definition(
            settings, image=image, region=region, run_id=run_id, extra=False, memory=512
        )
        state.register_uncertain = True
        try:
            arn = ecs.register(spec)
            state.revisions["memory"] = arn
            answers["memory_limit"] = f"accepted by RegisterTaskDefinition ({arn})"
        except AwsError as exc:
            answers["memory_limit"] = f"refused: {exc}"
        for name, extra in (("ordering", False), ("nonessential", True)):
            spec = _definition(
                settings, image=image, region=region, run_id=run_id, extra=extra, memory=0
            )
            state.revisions[name] = ecs.register(spec)
        state.register_uncertain = False
        tasks: dict[str, str] = {}
        for name in ("ordering", "nonessential"):
            kwargs = ecs.run_task_kwargs(
                task_definition=state.revisions[name],
                count=1,
                settings=settings,
                started_by=run_id,
                client_token=f"{run_id}-smoke-{name}"[:64],
                tags=task_definition.resource_tags(run_id, settings.tags),
            )
            state.unresolved[name] = kwargs
            state.last_run_task = clock()
            started, failures = ecs.run_task(kwargs)
            del state.unresolved[name]
            if not started:
                answers[name] = {"run_task_failures": failures}
                continue
            tasks[name] = str(started[0]["taskArn"])
            state.add_tasks([tasks[name]])
        final = _wait(ecs, cleaner, tasks, clock=clock, sleep=sleep, progress=progress)
        for name, task in final.items():
            answers[name] = {"timestamps": _stamps(task), "containers": _containers(task)}
            answers[name]["stoppedReason"] = task.get("stoppedReason")
        if "ordering" in tasks:
            try:
                ecs.client.stop_task(cluster=ecs.cluster, task=tasks["ordering"], reason="again")
                answers["stop_stopped_task"] = "accepted (no error)"
            except Exception as exc:  # the answer itself is what we want to know
                answers["stop_stopped_task"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            assert settings.log_group is not None
            cursor = StreamCursor(
                group=settings.log_group,
                stream=task_definition.log_stream(
                    run_id, check_image.CHECK_CONTAINER, tasks["ordering"]
                ),
            )
            reports = [m for _, m in logs.read(cursor) if m.startswith(check_image.REPORT_PREFIX)]
            answers["check_reports"] = len(reports)
            answers["first_report"] = _summarise_document(reports[0]) if reports else None
    finally:
        answers["leftovers"] = cleaner.run()
    return render(answers, region=region, run_id=run_id)


def _wait(
    ecs: EcsApi,
    cleaner: cleanup.Cleaner,
    tasks: dict[str, str],
    *,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    start = clock()
    final: dict[str, dict[str, Any]] = {}
    while len(final) < len(tasks):
        described = {t["taskArn"]: t for t in ecs.describe_tasks(list(tasks.values()))}
        elapsed = (clock() - start).total_seconds()
        for name, arn in tasks.items():
            task = described.get(arn)
            if task is None or name in final:
                continue
            started = to_datetime(task.get("startedAt"))
            if task.get("lastStatus") == "STOPPED":
                final[name] = task
                progress(f"smoke {name}: STOPPED ({task.get('stoppedReason')})")
            elif elapsed >= WAIT_SECONDS or (
                started is not None and (clock() - started).total_seconds() >= RUN_SECONDS
            ):
                cleaner.stop(arn, "soci-ci probe --smoke done")
        if len(final) < len(tasks):
            sleep(5.0)
    return final


def _summarise_document(message: str) -> list[dict[str, Any]]:
    text = message.removeprefix(check_image.REPORT_PREFIX)
    try:
        document = json.loads(text)
    except ValueError:
        return [{"unparsed": text[:200]}]
    keys = ("Name", "KnownStatus", "Snapshotter", "StartedAt", "PullStartedAt")
    return [
        {k: c.get(k) for k in keys if k in c}
        for c in document.get("Containers") or ()
        if isinstance(c, dict)
    ]


def render(answers: dict[str, Any], *, region: str, run_id: str) -> str:
    lines = [
        f"### soci-ci probe --smoke ({__version__}, {region}, {run_id})",
        "",
        f"- memory limit with a derived definition: {answers.get('memory_limit')}",
        f"- StopTask on a stopped task: {answers.get('stop_stopped_task')}",
        f"- check container reports read: {answers.get('check_reports')}",
        f"- leftovers: {answers.get('leftovers') or 'none'}",
        "",
        "```json",
        json.dumps(
            {
                "ordering": answers.get("ordering"),
                "nonessential_pull_failure": answers.get("nonessential"),
                "first_check_report": answers.get("first_report"),
            },
            indent=1,
            default=str,
        )[:6000],
        "```",
    ]
    return "\n".join(lines) + "\n"

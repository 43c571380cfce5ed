"""A fake ECS + CloudWatch Logs pair that plays realistic Fargate task lifecycles.

moto has no Fargate timestamps (notes/aws.md section 6), so timing, readiness, snapshotter
and failure logic is tested against this fake. Each launched task follows a ``Script``:
offsets in seconds from ``createdAt`` modelled on the recorded Fargate payloads of
notes/aws.md 2.2 (createdAt 14:25:20.227, connectivity +13.754, pull started +5.769,
pull stopped +7.0, started +2.0). DescribeTasks answers from the fake clock: a field appears
only once its time has come, as on real ECS. Log events become visible after an ingestion lag.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
T0 = datetime(2026, 3, 14, 14, 25, 20, 227000, tzinfo=UTC)
INGESTION_LAG = 2.0


class FakeClientError(Exception):
    """Shaped like botocore's ClientError: ``response["Error"]["Code"]``."""

    def __init__(self, code: str, message: str = "", operation: str = "") -> None:
        super().__init__(f"An error occurred ({code}) when calling the {operation} operation")
        self.response = {"Error": {"Code": code, "Message": message}}


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.slept = 0.0
        self.on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.slept += seconds
        if self.on_sleep is not None:
            self.on_sleep(seconds)


@dataclass
class Script:
    """What one task does; ``None`` offsets are never reached."""

    connectivity: float | None = 13.754
    pull_started: float | None = 19.523
    pull_stopped: float | None = 26.523
    started: float | None = 28.523
    app_lines: tuple[tuple[float, str], ...] = ((0.115, "booting"), (1.5, "READY on :8080"))
    snapshotter: str | None = "overlayfs"  # what the sidecar reports; None: no sidecar line
    stop_at: float | None = None  # the task stops by itself
    stopped_reason: str = ""
    stop_code: str | None = None
    container_reason: str | None = None
    exit_code: int | None = None
    healthy_at: float | None = None
    run_failure: str | None = None  # RunTask `failures[].reason`; no task is created


@dataclass
class FakeTask:
    arn: str
    definition: str
    started_by: str
    created: datetime
    script: Script
    stopped_by_user: datetime | None = None
    stop_reason: str = ""

    def at(self, offset: float | None) -> datetime | None:
        return None if offset is None else self.created + timedelta(seconds=offset)

    def stop_time(self) -> datetime | None:
        natural = self.at(self.script.stop_at)
        user = self.stopped_by_user
        if natural is None:
            return user
        return natural if user is None else min(natural, user)


@dataclass
class FakeAws:
    clock: FakeClock
    scripts: list[Script] = field(default_factory=list)
    default_script: Script = field(default_factory=Script)
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> failures to come
    calls: list[str] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # arn -> definition
    tokens: dict[str, list[str]] = field(default_factory=dict)
    lose_answer_of_run: set[int] = field(default_factory=set)  # RunTask call numbers (1-based)
    lose_answer_code: str = "ServerException"  # the error the caller sees instead
    base_definition: dict[str, Any] | None = None
    _revisions: dict[str, int] = field(default_factory=dict)
    _run_calls: int = 0

    @property
    def ecs(self) -> FakeEcs:
        return FakeEcs(self)

    @property
    def logs(self) -> FakeLogs:
        return FakeLogs(self)

    def enter(self, operation: str) -> None:
        self.calls.append(operation)
        if self.throttle.get(operation, 0) > 0:
            self.throttle[operation] -= 1
            raise FakeClientError("ThrottlingException", "Rate exceeded", operation)

    # -- observations for tests -----------------------------------------------------------
    def running(self) -> list[str]:
        now = self.clock.now
        return [a for a, t in self.tasks.items() if (t.stop_time() or now + _DAY) > now]

    def active_definitions(self) -> list[str]:
        return [a for a, d in self.definitions.items() if d["status"] == "ACTIVE"]

    def task_payload(self, task: FakeTask) -> dict[str, Any]:
        now = self.clock.now
        s = task.script
        stamps: dict[str, datetime | None] = {
            "createdAt": task.created,
            "connectivityAt": task.at(s.connectivity),
            "pullStartedAt": task.at(s.pull_started),
            "pullStoppedAt": task.at(s.pull_stopped),
            "startedAt": task.at(s.started),
        }
        stop = task.stop_time()
        stopped = stop is not None and stop <= now
        visible = {k: v for k, v in stamps.items() if v is not None and v <= now}
        if stopped:
            status = "STOPPED"
        elif "startedAt" in visible:
            status = "RUNNING"
        elif "connectivityAt" in visible:
            status = "PENDING"
        else:
            status = "PROVISIONING"
        app: dict[str, Any] = {"name": "app", "lastStatus": status, "healthStatus": "UNKNOWN"}
        payload: dict[str, Any] = {
            "taskArn": task.arn,
            "taskDefinitionArn": task.definition,
            "lastStatus": status,
            "desiredStatus": "STOPPED" if stopped or task.stopped_by_user else "RUNNING",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "startedBy": task.started_by,
            "containers": [app],
            **visible,
        }
        healthy = task.at(s.healthy_at)
        if healthy is not None and healthy <= now and not stopped:
            payload["healthStatus"] = app["healthStatus"] = "HEALTHY"
        if stopped:
            assert stop is not None
            payload["stoppedAt"] = stop
            natural = task.stopped_by_user is None or (
                s.stop_at is not None and task.at(s.stop_at) == stop
            )
            if natural:
                payload["stoppedReason"] = s.stopped_reason
                if s.stop_code:
                    payload["stopCode"] = s.stop_code
                if s.container_reason:
                    app["reason"] = s.container_reason
                if s.exit_code is not None:
                    app["exitCode"] = s.exit_code
            else:
                payload["stoppedReason"] = task.stop_reason
                payload["stopCode"] = "UserInitiated"
        return payload

    def log_events(self, group: str, stream: str) -> list[dict[str, Any]]:
        _prefix, container, task_id = stream.split("/")
        task = next((t for t in self.tasks.values() if t.arn.endswith("/" + task_id)), None)
        if task is None or task.script.started is None:
            return []
        started = task.created + timedelta(seconds=task.script.started)
        lines: list[tuple[datetime, str]] = []
        if container == "app":
            lines = [(started + timedelta(seconds=o), m) for o, m in task.script.app_lines]
        elif task.script.snapshotter is not None:
            document = {
                "Cluster": "default",
                "TaskARN": task.arn,
                "Containers": [
                    {"Name": "app", "Snapshotter": task.script.snapshotter},
                    {"Name": "soci-ci-snapshotter", "Snapshotter": "overlayfs"},
                ],
            }
            lines = [(started + timedelta(seconds=1), json.dumps(document))]
        stop = task.stop_time()
        now = self.clock.now
        return [
            {"timestamp": int(when.timestamp() * 1000), "message": message}
            for when, message in lines
            if when + timedelta(seconds=INGESTION_LAG) <= now and (stop is None or when <= stop)
        ]


_DAY = timedelta(days=1)


class FakeEcs:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def describe_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        self.aws.enter("DescribeTaskDefinition")
        if self.aws.base_definition is None:
            raise FakeClientError("ClientException", "Unable to describe task definition.")
        return {"taskDefinition": self.aws.base_definition}

    def register_task_definition(self, **spec: Any) -> dict[str, Any]:
        self.aws.enter("RegisterTaskDefinition")
        family = spec["family"]
        revision = self.aws._revisions.get(family, 0) + 1
        self.aws._revisions[family] = revision
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"
        definition = {**spec, "taskDefinitionArn": arn, "revision": revision, "status": "ACTIVE"}
        self.aws.definitions[arn] = definition
        return {"taskDefinition": definition}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.aws.enter("RunTask")
        aws = self.aws
        assert kwargs["count"] <= 10
        assert ("launchType" in kwargs) != ("capacityProviderStrategy" in kwargs)
        assert len(kwargs["clientToken"]) <= 64
        definition = aws.definitions[kwargs["taskDefinition"]]
        assert definition["status"] == "ACTIVE"
        token = kwargs["clientToken"]
        if token in aws.tokens:  # idempotent retry
            return {
                "tasks": [aws.task_payload(aws.tasks[a]) for a in aws.tokens[token]],
                "failures": [],
            }
        aws._run_calls += 1
        tasks: list[FakeTask] = []
        failures: list[dict[str, Any]] = []
        for _ in range(kwargs["count"]):
            script = aws.scripts.pop(0) if aws.scripts else aws.default_script
            if script.run_failure:
                failures.append({"reason": script.run_failure, "detail": "fake"})
                continue
            arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/{len(aws.tasks) + 1:032x}"
            task = FakeTask(
                arn=arn,
                definition=kwargs["taskDefinition"],
                started_by=kwargs["startedBy"],
                created=aws.clock.now,
                script=script,
            )
            aws.tasks[arn] = task
            tasks.append(task)
        aws.tokens[token] = [t.arn for t in tasks]
        if aws._run_calls in aws.lose_answer_of_run:
            raise FakeClientError(aws.lose_answer_code, "answer lost", "RunTask")
        return {"tasks": [aws.task_payload(t) for t in tasks], "failures": failures}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self.aws.enter("DescribeTasks")
        assert len(tasks) <= 100
        found = [self.aws.task_payload(self.aws.tasks[a]) for a in tasks if a in self.aws.tasks]
        missing = [{"arn": a, "reason": "MISSING"} for a in tasks if a not in self.aws.tasks]
        return {"tasks": found, "failures": missing}

    def stop_task(self, cluster: str, task: str, reason: str) -> dict[str, Any]:
        self.aws.enter("StopTask")
        fake = self.aws.tasks[task]
        if fake.stopped_by_user is None:
            fake.stopped_by_user = self.aws.clock.now
            fake.stop_reason = reason
        return {"task": self.aws.task_payload(fake)}

    def list_tasks(
        self, cluster: str, startedBy: str, nextToken: str | None = None
    ) -> dict[str, Any]:
        self.aws.enter("ListTasks")
        arns = [a for a in self.aws.running() if self.aws.tasks[a].started_by == startedBy]
        page = int(nextToken or 0)
        answer: dict[str, Any] = {"taskArns": arns[page : page + 2]}
        if page + 2 < len(arns):
            answer["nextToken"] = str(page + 2)
        return answer

    def deregister_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        self.aws.enter("DeregisterTaskDefinition")
        self.aws.definitions[taskDefinition]["status"] = "INACTIVE"
        return {"taskDefinition": self.aws.definitions[taskDefinition]}

    def delete_task_definitions(self, taskDefinitions: list[str]) -> dict[str, Any]:
        self.aws.enter("DeleteTaskDefinitions")
        assert len(taskDefinitions) <= 10
        for arn in taskDefinitions:
            assert self.aws.definitions[arn]["status"] == "INACTIVE"
            self.aws.definitions[arn]["status"] = "DELETE_IN_PROGRESS"
        return {"taskDefinitions": [self.aws.definitions[a] for a in taskDefinitions]}


class FakeLogs:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def get_log_events(
        self,
        logGroupName: str,
        logStreamName: str,
        startFromHead: bool,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.aws.enter("GetLogEvents")
        events = self.aws.log_events(logGroupName, logStreamName)
        if not events and nextToken is None:
            raise FakeClientError(
                "ResourceNotFoundException", "The specified log stream does not exist."
            )
        page = int((nextToken or "f/0").split("/")[1])
        return {
            "events": events[page : page + 1],
            "nextForwardToken": f"f/{min(page + 1, len(events))}",
        }

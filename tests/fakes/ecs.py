"""A fake ECS + CloudWatch Logs pair that replays Fargate platform-1.4.0 task lifecycles.

moto has no Fargate timestamps (notes/aws.md section 6), so timing, readiness, snapshotter,
failure and cleanup logic is tested against this fake, in process (``FakeAws.ecs`` /
``FakeAws.logs``, driven by a ``FakeClock``) or over HTTP (``tests/fakes/aws_server.py``).

Where each payload shape comes from:
- **Task and Container shapes, field names, enums** (``lastStatus`` PROVISIONING -> PENDING ->
  ACTIVATING -> RUNNING -> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED, ``stopCode``,
  ``attachments``, ``connectivity``, ``containers[].runtimeId/imageDigest/exitCode/reason``):
  the botocore 1.43 ECS model (``botocore/data/ecs/2014-11-13/service-2.json``).
- **Timings** (``Script`` defaults): the recorded Fargate task of notes/aws.md 2.2 (created
  14:25:20.227, connectivity +13.754, pull started +5.769, pull stopped +7.0, started +2.0,
  stopping to stopped 23.5 s), moved to platform 1.4.0: that sample ran on 1.3.0, where SOCI
  cannot work, so only its durations are reused.
- **Multi-container behaviour** (amazon-ecs-agent, notes/aws.md 8): every container of the
  definition appears in ``containers``; the task is RUNNING only when every container started;
  ``pullStoppedAt`` is the end of the *last* pull; an essential container's exit stops the
  task (``EssentialContainerExited``): the check container's watchdog uses that.
- **Eventual consistency** (RunTask API reference: "ECS is eventually consistent"):
  ``ListTasks`` hides tasks younger than ``list_lag`` seconds; ``DescribeTasks`` answers
  ``MISSING`` for tasks younger than ``describe_lag``.
- **RunTask idempotency**: the same ``clientToken`` returns the same tasks (ECS_Idempotency).
- **Lost answers**: the task is created, then the caller gets a 5xx (``ServerException``) or
  a read timeout instead of the answer.
- **Throttling forms**: ``ThrottlingException: Rate exceeded`` and EC2 throttling inside
  ``InvalidParameterException: ... Request limit exceeded (RequestLimitExceeded)``
  (dask-cloudprovider#56), ``TooManyRequestsException``.
- **GetLogEvents** (botocore logs model): ``nextForwardToken`` equals the token sent at the
  end of the stream; with ``empty_pages`` every other page is empty with a new token (the API
  documents empty pages as normal). Events become visible after ``INGESTION_LAG``.
- **Task Metadata v4 ``/task``** printed by the check container: field names of the ECS
  developer guide (``Containers[].Name/KnownStatus/Snapshotter``); before the app container
  runs, its ``Snapshotter`` holds the default ``overlayfs`` (the trap parse_snapshotter avoids).
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
STOPPING_SECONDS = 23.5
CHECK = "soci-ci-check"


class FakeClientError(Exception):
    """Shaped like botocore's ClientError: ``response["Error"]["Code"]`` and HTTP status."""

    def __init__(self, code: str, message: str = "", operation: str = "", status: int = 400):
        super().__init__(f"An error occurred ({code}) when calling the {operation} operation")
        self.response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }


class ReadTimeoutError(Exception):
    """Named like botocore's: the request was sent, the answer never came."""


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
    """What one task does; ``None`` offsets are never reached (seconds from createdAt)."""

    connectivity: float | None = 13.754
    pull_started: float | None = 19.523
    pull_stopped: float | None = 26.523
    started: float | None = 28.523
    app_lines: tuple[tuple[float, str], ...] = ((0.115, "booting"), (1.5, "READY on :8080"))
    snapshotter: str | None = "overlayfs"  # what the check container reports; None: nothing
    stop_at: float | None = None  # the task stops by itself
    watchdog: bool = True  # False: the check container never ends the task (only StopTask)
    stopped_reason: str = ""
    stop_code: str | None = None
    container_reason: str | None = None  # the app container's reason
    check_reason: str | None = None  # the check container's reason (e.g. its pull failed)
    exit_code: int | None = None
    healthy_at: float | None = None
    run_failure: str | None = None  # RunTask `failures[].reason`; no task is created
    out_of_order: bool = False  # startedAt 0.2 s before pullStoppedAt (seen in the wild)


@dataclass
class FakeTask:
    arn: str
    definition: str
    started_by: str
    created: datetime
    script: Script
    tags: list[dict[str, str]] = field(default_factory=list)
    deadline: float | None = None  # the check container's watchdog (seconds after start)
    stopped_by_user: datetime | None = None
    stop_reason: str = ""

    def at(self, offset: float | None) -> datetime | None:
        return None if offset is None else self.created + timedelta(seconds=offset)

    def watchdog_time(self) -> datetime | None:
        if self.deadline is None or self.script.started is None or not self.script.watchdog:
            return None
        return self.at(self.script.started + self.deadline)

    def natural_stop(self) -> datetime | None:
        times = [t for t in (self.at(self.script.stop_at), self.watchdog_time()) if t]
        return min(times) if times else None

    def stopping_time(self) -> datetime | None:
        """When the task stopped running (its containers are gone): user or natural."""
        natural, user = self.natural_stop(), self.stopped_by_user
        if natural is None:
            return user
        return natural if user is None else min(natural, user)


@dataclass
class FakeAws:
    clock: FakeClock
    scripts: list[Script] = field(default_factory=list)
    default_script: Script = field(default_factory=Script)
    throttle: dict[str, int] = field(default_factory=dict)  # operation -> failures to come
    throttle_error: tuple[str, str] = ("ThrottlingException", "Rate exceeded")
    calls: list[str] = field(default_factory=list)
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # arn -> definition
    tokens: dict[str, list[str]] = field(default_factory=dict)
    lose_answer_of_run: set[int] = field(default_factory=set)  # RunTask call numbers (1-based)
    lose_answer_code: str = "ServerException"  # or "timeout"
    lose_register_answer: set[int] = field(default_factory=set)  # RegisterTaskDefinition calls
    denied: set[str] = field(default_factory=set)  # operations refused with AccessDenied
    base_definition: dict[str, Any] | None = None
    list_lag: float = 5.0  # ListTasks hides tasks younger than this
    describe_lag: float = 0.0  # DescribeTasks says MISSING for tasks younger than this
    empty_pages: bool = True
    capacity_providers: tuple[str, ...] = ("FARGATE", "FARGATE_SPOT")
    log_groups: set[str] = field(default_factory=lambda: {"/soci-ci/probe"})
    cluster_name: str = "default"
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
        if operation in self.denied:
            raise FakeClientError(
                "AccessDeniedException",
                f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ci is not authorized to perform: "
                f"{operation}",
                operation,
            )
        if self.throttle.get(operation, 0) > 0:
            self.throttle[operation] -= 1
            code, message = self.throttle_error
            raise FakeClientError(code, message, operation)

    # -- observations for tests -----------------------------------------------------------
    def running(self) -> list[str]:
        """Tasks neither stopped nor stopping (nothing will end them but their watchdog)."""
        now = self.clock.now
        return [
            a for a, t in self.tasks.items() if (stop := t.stopping_time()) is None or stop > now
        ]

    def stopped_at(self, task: FakeTask) -> datetime | None:
        stop = task.stopping_time()
        return None if stop is None else stop + timedelta(seconds=STOPPING_SECONDS)

    def active_definitions(self) -> list[str]:
        return [a for a, d in self.definitions.items() if d["status"] == "ACTIVE"]

    def _containers(
        self, task: FakeTask, status: str, stop: datetime | None
    ) -> list[dict[str, Any]]:
        definition = self.definitions.get(task.definition, {})
        out: list[dict[str, Any]] = []
        for i, spec in enumerate(definition.get("containerDefinitions") or [{"name": "app"}]):
            name = str(spec.get("name"))
            container: dict[str, Any] = {
                "containerArn": f"{task.arn.replace(':task/', ':container/')}/{i}",
                "taskArn": task.arn,
                "name": name,
                "image": spec.get("image"),
                "lastStatus": "RUNNING"
                if status in {"RUNNING", "DEACTIVATING"}
                else (
                    "STOPPED" if status in {"STOPPING", "DEPROVISIONING", "STOPPED"} else "PENDING"
                ),
                "networkInterfaces": [
                    {"attachmentId": "eni-attach", "privateIpv4Address": "10.0.1.7"}
                ],
                "healthStatus": "UNKNOWN",
                "cpu": "0",
            }
            if status in {"RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"} and (
                task.script.started is not None
            ):
                container["runtimeId"] = f"{task.arn.rsplit('/', 1)[1]}-{i}"
                container["imageDigest"] = "sha256:" + f"{i:x}" * 64
            out.append(container)
        return out

    def task_payload(self, task: FakeTask, *, include_tags: bool = False) -> dict[str, Any]:
        now = self.clock.now
        s = task.script
        pull_stopped = task.at(s.pull_stopped)
        started = task.at(s.started)
        if s.out_of_order and pull_stopped is not None and started is not None:
            started = pull_stopped - timedelta(seconds=0.2)
        stamps: dict[str, datetime | None] = {
            "createdAt": task.created,
            "connectivityAt": task.at(s.connectivity),
            "pullStartedAt": task.at(s.pull_started),
            "pullStoppedAt": pull_stopped,
            "startedAt": started,
        }
        stop = task.stopping_time()
        stopped_at = self.stopped_at(task)
        visible = {k: v for k, v in stamps.items() if v is not None and v <= now}
        if stop is not None and stop <= now:
            assert stopped_at is not None
            if now >= stopped_at:
                status = "STOPPED"
            elif now >= stop + timedelta(seconds=STOPPING_SECONDS - 5):
                status = "DEPROVISIONING"
            else:
                status = "STOPPING" if "startedAt" in visible else "DEPROVISIONING"
        elif "startedAt" in visible:
            status = "RUNNING"
        elif "pullStartedAt" in visible:
            status = "ACTIVATING"
        elif "connectivityAt" in visible:
            status = "PENDING"
        else:
            status = "PROVISIONING"
        containers = self._containers(task, status, stop)
        app = containers[0]
        check = next((c for c in containers if c["name"] == CHECK), None)
        payload: dict[str, Any] = {
            "taskArn": task.arn,
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{self.cluster_name}",
            "taskDefinitionArn": task.definition,
            "lastStatus": status,
            "desiredStatus": "STOPPED"
            if (stop is not None and stop <= now) or task.stopped_by_user
            else "RUNNING",
            "launchType": "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "availabilityZone": "us-east-1a",
            "startedBy": task.started_by,
            "cpu": "1024",
            "memory": "2048",
            "version": 1 + len(visible),
            "group": f"family:{task.definition.rsplit('/', 1)[1].split(':')[0]}",
            "connectivity": "CONNECTED" if "connectivityAt" in visible else "DISCONNECTED",
            "attachments": [
                {
                    "id": "a1b2c3d4-0000-4000-8000-000000000001",
                    "type": "ElasticNetworkInterface",
                    "status": "ATTACHED" if "connectivityAt" in visible else "PRECREATED",
                    "details": [{"name": "subnetId", "value": "subnet-0abc"}],
                }
            ],
            "ephemeralStorage": {"sizeInGiB": 20},
            "containers": containers,
            **visible,
        }
        healthy = task.at(s.healthy_at)
        if healthy is not None and healthy <= now and status == "RUNNING":
            payload["healthStatus"] = app["healthStatus"] = "HEALTHY"
        if stop is not None and stop <= now:
            payload["stoppingAt"] = stop
            payload["executionStoppedAt"] = stop + timedelta(seconds=1)
            if status == "STOPPED":
                payload["stoppedAt"] = stopped_at
            natural = task.natural_stop()
            if natural is not None and natural == stop:
                own_stop = task.at(s.stop_at)
                if task.watchdog_time() == stop and (own_stop is None or own_stop > stop):
                    payload["stoppedReason"] = "Essential container in task exited"
                    payload["stopCode"] = "EssentialContainerExited"
                    if check is not None:
                        check["exitCode"] = 1
                else:
                    payload["stoppedReason"] = s.stopped_reason
                    if s.stop_code:
                        payload["stopCode"] = s.stop_code
                    if s.container_reason:
                        app["reason"] = s.container_reason
                    if s.check_reason and check is not None:
                        check["reason"] = s.check_reason
                    if s.exit_code is not None:
                        app["exitCode"] = s.exit_code
            else:
                payload["stoppedReason"] = task.stop_reason
                payload["stopCode"] = "UserInitiated"
        if include_tags:
            payload["tags"] = list(task.tags)
        return payload

    def log_events(self, group: str, stream: str) -> list[dict[str, Any]]:
        if group not in self.log_groups:
            return []
        parts = stream.split("/")
        if len(parts) != 3:
            return []
        _prefix, container, task_id = parts
        task = next((t for t in self.tasks.values() if t.arn.endswith("/" + task_id)), None)
        if task is None or task.script.started is None:
            return []
        started = task.created + timedelta(seconds=task.script.started)
        lines: list[tuple[datetime, str]] = []
        if container == CHECK and task.script.snapshotter is not None:
            # The check container starts with the task (no dependsOn): its first report comes
            # before the app runs and must not be trusted.
            for offset, app_status, value in (
                (-1.0, "PULLED", "overlayfs"),
                (1.0, "RUNNING", task.script.snapshotter),
                (3.0, "RUNNING", task.script.snapshotter),
            ):
                document = {
                    "Cluster": self.cluster_name,
                    "TaskARN": task.arn,
                    "KnownStatus": "RUNNING",
                    "Containers": [
                        {"Name": "app", "KnownStatus": app_status, "Snapshotter": value},
                        {"Name": CHECK, "KnownStatus": "RUNNING", "Snapshotter": "overlayfs"},
                    ],
                }
                lines.append(
                    (started + timedelta(seconds=offset), "soci-ci-check " + json.dumps(document))
                )
        elif container != CHECK:
            lines = [(started + timedelta(seconds=o), m) for o, m in task.script.app_lines]
        stop = task.stopping_time()
        now = self.clock.now
        return [
            {
                "timestamp": int(when.timestamp() * 1000),
                "message": message,
                "ingestionTime": int((when + timedelta(seconds=INGESTION_LAG)).timestamp() * 1000),
            }
            for when, message in lines
            if when + timedelta(seconds=INGESTION_LAG) <= now and (stop is None or when <= stop)
        ]


def _tag(tags: list[dict[str, str]], key: str) -> str | None:
    return next((t["value"] for t in tags if t.get("key") == key), None)


class FakeEcs:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def describe_clusters(self, clusters: list[str]) -> dict[str, Any]:
        self.aws.enter("DescribeClusters")
        if clusters != [self.aws.cluster_name]:
            return {"clusters": [], "failures": [{"arn": clusters[0], "reason": "MISSING"}]}
        return {
            "clusters": [
                {
                    "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{self.aws.cluster_name}",
                    "clusterName": self.aws.cluster_name,
                    "status": "ACTIVE",
                    "capacityProviders": list(self.aws.capacity_providers),
                }
            ],
            "failures": [],
        }

    def describe_task_definition(
        self, taskDefinition: str, include: list[str] | None = None
    ) -> dict[str, Any]:
        self.aws.enter("DescribeTaskDefinition")
        if taskDefinition in self.aws.definitions:
            definition = dict(self.aws.definitions[taskDefinition])
            tags = definition.pop("tags", [])
            return {"taskDefinition": definition, "tags": tags if include else []}
        if self.aws.base_definition is None:
            raise FakeClientError("ClientException", "Unable to describe task definition.")
        return {"taskDefinition": self.aws.base_definition}

    def register_task_definition(self, **spec: Any) -> dict[str, Any]:
        self.aws.enter("RegisterTaskDefinition")
        if "logConfiguration" in json.dumps(spec) and not spec.get("executionRoleArn"):
            raise FakeClientError(
                "ClientException",
                "Fargate requires task definition to have execution role ARN to support log "
                "driver awslogs.",
            )
        family = spec["family"]
        revision = self.aws._revisions.get(family, 0) + 1
        self.aws._revisions[family] = revision
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"
        definition = {
            **spec,
            "taskDefinitionArn": arn,
            "revision": revision,
            "status": "ACTIVE",
            "registeredAt": self.aws.clock.now,
        }
        self.aws.definitions[arn] = definition
        if self.aws.calls.count("RegisterTaskDefinition") in self.aws.lose_register_answer:
            raise FakeClientError("ServerException", "answer lost", "Register", status=500)
        shown = {k: v for k, v in definition.items() if k != "tags"}
        return {"taskDefinition": shown, "tags": spec.get("tags", [])}

    def list_task_definitions(
        self, familyPrefix: str, status: str = "ACTIVE", nextToken: str | None = None
    ) -> dict[str, Any]:
        self.aws.enter("ListTaskDefinitions")
        arns = [
            a
            for a, d in self.aws.definitions.items()
            if d["family"].startswith(familyPrefix) and d["status"] == status
        ]
        return {"taskDefinitionArns": arns}

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.aws.enter("RunTask")
        aws = self.aws
        assert kwargs["count"] <= 10
        assert ("launchType" in kwargs) != ("capacityProviderStrategy" in kwargs)
        assert len(kwargs["clientToken"]) <= 64
        assert kwargs["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
        assert len(kwargs.get("tags") or []) <= 50
        definition = aws.definitions[kwargs["taskDefinition"]]
        assert definition["status"] == "ACTIVE"
        token = kwargs["clientToken"]
        if token in aws.tokens:  # idempotent retry
            return {
                "tasks": [aws.task_payload(aws.tasks[a]) for a in aws.tokens[token]],
                "failures": [],
            }
        aws._run_calls += 1
        deadline = None
        for container in definition["containerDefinitions"]:
            if container["name"] == CHECK and container.get("essential"):
                env = {e["name"]: e["value"] for e in container.get("environment") or ()}
                deadline = float(env.get("SOCI_CI_DEADLINE_SECONDS", "900"))
        tasks: list[FakeTask] = []
        failures: list[dict[str, Any]] = []
        for _ in range(kwargs["count"]):
            script = aws.scripts.pop(0) if aws.scripts else aws.default_script
            if script.run_failure:
                failures.append({"reason": script.run_failure, "detail": "fake"})
                continue
            arn = (
                f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{aws.cluster_name}/{len(aws.tasks) + 1:032x}"
            )
            task = FakeTask(
                arn=arn,
                definition=kwargs["taskDefinition"],
                started_by=kwargs["startedBy"],
                created=aws.clock.now,
                script=script,
                tags=list(kwargs.get("tags") or []),
                deadline=deadline,
            )
            aws.tasks[arn] = task
            tasks.append(task)
        aws.tokens[token] = [t.arn for t in tasks]
        if aws._run_calls in aws.lose_answer_of_run:
            if aws.lose_answer_code == "timeout":
                raise ReadTimeoutError("Read timeout on endpoint URL")
            raise FakeClientError(aws.lose_answer_code, "answer lost", "RunTask", status=500)
        return {"tasks": [aws.task_payload(t) for t in tasks], "failures": failures}

    def describe_tasks(
        self, cluster: str, tasks: list[str], include: list[str] | None = None
    ) -> dict[str, Any]:
        self.aws.enter("DescribeTasks")
        assert len(tasks) <= 100
        now = self.aws.clock.now
        known = {
            a: t
            for a, t in self.aws.tasks.items()
            if (now - t.created).total_seconds() >= self.aws.describe_lag
        }
        tagged = bool(include and "TAGS" in include)
        found = [self.aws.task_payload(known[a], include_tags=tagged) for a in tasks if a in known]
        missing = [{"arn": a, "reason": "MISSING"} for a in tasks if a not in known]
        return {"tasks": found, "failures": missing}

    def stop_task(self, cluster: str, task: str, reason: str = "") -> dict[str, Any]:
        self.aws.enter("StopTask")
        fake = self.aws.tasks.get(task)
        if fake is None:
            raise FakeClientError("InvalidParameterException", "The referenced task was not found.")
        if (
            fake.stopped_by_user is None
            and (fake.stopping_time() or self.aws.clock.now + timedelta(days=1))
            > self.aws.clock.now
        ):
            fake.stopped_by_user = self.aws.clock.now
            fake.stop_reason = reason
        return {"task": self.aws.task_payload(fake)}

    def list_tasks(
        self,
        cluster: str,
        startedBy: str | None = None,
        family: str | None = None,
        desiredStatus: str = "RUNNING",
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.aws.enter("ListTasks")
        now = self.aws.clock.now
        arns = []
        for arn, task in self.aws.tasks.items():
            if (now - task.created).total_seconds() < self.aws.list_lag:
                continue  # eventually consistent: too young to be listed
            stop = task.stopping_time()
            desired = "STOPPED" if stop is not None and stop <= now else "RUNNING"
            if desired != desiredStatus:
                continue
            if startedBy is not None and task.started_by != startedBy:
                continue
            if family is not None and f"task-definition/{family}:" not in task.definition:
                continue
            arns.append(arn)
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
        failures = []
        for arn in taskDefinitions:
            if self.aws.definitions[arn]["status"] != "INACTIVE":
                failures.append(
                    {"arn": arn, "reason": "The specified task definition is still ACTIVE"}
                )
                continue
            self.aws.definitions[arn]["status"] = "DELETE_IN_PROGRESS"
        return {
            "taskDefinitions": [self.aws.definitions[a] for a in taskDefinitions],
            "failures": failures,
        }


class FakeLogs:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def describe_log_groups(self, logGroupNamePrefix: str, limit: int = 50) -> dict[str, Any]:
        self.aws.enter("DescribeLogGroups")
        return {
            "logGroups": [
                {"logGroupName": g}
                for g in sorted(self.aws.log_groups)
                if g.startswith(logGroupNamePrefix)
            ]
        }

    def create_log_group(
        self, logGroupName: str, tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        self.aws.enter("CreateLogGroup")
        if logGroupName in self.aws.log_groups:
            raise FakeClientError(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        self.aws.log_groups.add(logGroupName)
        return {}

    def put_retention_policy(self, logGroupName: str, retentionInDays: int) -> dict[str, Any]:
        self.aws.enter("PutRetentionPolicy")
        return {}

    def get_log_events(
        self,
        logGroupName: str,
        logStreamName: str,
        startFromHead: bool,
        nextToken: str | None = None,
    ) -> dict[str, Any]:
        self.aws.enter("GetLogEvents")
        assert startFromHead is True
        events = self.aws.log_events(logGroupName, logStreamName)
        if not events and nextToken is None:
            raise FakeClientError(
                "ResourceNotFoundException", "The specified log stream does not exist."
            )
        # token "f/<position>/<parity>": with empty_pages, every other answer is an empty page
        # that still moves the token forward.
        position, parity = 0, 0
        if nextToken is not None:
            _f, pos, par = nextToken.split("/")
            position, parity = int(pos), int(par)
        if position >= len(events):
            return {
                "events": [],
                "nextForwardToken": nextToken or f"f/{position}/{parity}",
                "nextBackwardToken": "b/0/0",
            }
        if self.aws.empty_pages and parity == 0:
            return {
                "events": [],
                "nextForwardToken": f"f/{position}/1",
                "nextBackwardToken": "b/0/0",
            }
        return {
            "events": events[position : position + 1],
            "nextForwardToken": f"f/{position + 1}/0",
            "nextBackwardToken": "b/0/0",
        }

"""The boto3 edge for ECS: every call the probe makes, with throttling retries.

The client is handed in (a boto3 ``ecs`` client made with adaptive retries, or a test
fake); errors are recognised by their botocore ``response["Error"]["Code"]`` shape, so
nothing here imports botocore. On top of botocore's adaptive mode, a throttled call is
retried with capped, jittered backoff up to a budget; past it, ``AwsError(throttled=True)``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from soci_ci.backoff import backoff_delay
from soci_ci.errors import AwsError
from soci_ci.probe.settings import CapacityProvider, ProbeSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
DESCRIBE_BATCH = 100
DELETE_BATCH = 10


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        code = error.get("Code")
        return None if code is None else str(code)
    return None


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str((response.get("Error") or {}).get("Message") or exc)
    return str(exc)


def is_throttle(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in THROTTLE_CODES or (
        code == "InvalidParameterException" and "rate exceeded" in error_message(exc).lower()
    )


class Retrier:
    """Calls ``fn`` again while it is throttled, sleeping ``base * 2**n`` (capped, jittered)."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None],
        budget: int = 8,
        base: float = 0.5,
        cap: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sleep = sleep
        self.budget = budget
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if error_code(exc) is None:
                    if type(exc).__module__.startswith("botocore"):  # no credentials, no route
                        raise AwsError(f"{what} failed: {exc}") from exc
                    raise
                if not is_throttle(exc):
                    detail = f"{error_code(exc)}: {error_message(exc)}"
                    raise AwsError(f"{what} failed: {detail}") from exc
                if attempt >= self.budget:
                    raise AwsError(
                        f"{what} still throttled after {attempt + 1} attempts",
                        hint="lower probe.concurrency or retry later (ECS API rate limits)",
                        throttled=True,
                    ) from exc
                delay = backoff_delay(
                    attempt, base=self.base, cap=self.cap, jitter=self.rng.random()
                )
                log.debug("%s throttled; retrying in %.1f s", what, delay)
                self.sleep(delay)
                attempt += 1


class EcsApi:
    def __init__(self, client: Any, *, cluster: str, retrier: Retrier) -> None:
        self.client = client
        self.cluster = cluster
        self.retrier = retrier

    def describe_task_definition(self, name: str) -> dict[str, Any]:
        answer = self.retrier.call(
            "DescribeTaskDefinition",
            lambda: self.client.describe_task_definition(taskDefinition=name),
        )
        return dict(answer["taskDefinition"])

    def register(self, spec: Mapping[str, Any]) -> str:
        answer = self.retrier.call(
            "RegisterTaskDefinition", lambda: self.client.register_task_definition(**spec)
        )
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def run_task(
        self,
        *,
        task_definition: str,
        count: int,
        settings: ProbeSettings,
        started_by: str,
        client_token: str,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Start ``count`` tasks; the same ``client_token`` makes retries idempotent."""
        kwargs: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": task_definition,
            "count": count,
            "startedBy": started_by,
            "clientToken": client_token,
            "platformVersion": "1.4.0",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": list(settings.network.subnets),
                    "securityGroups": list(settings.network.security_groups),
                    "assignPublicIp": "ENABLED"
                    if settings.network.assign_public_ip
                    else "DISABLED",
                }
            },
        }
        if settings.capacity_provider is CapacityProvider.FARGATE:
            kwargs["launchType"] = "FARGATE"
        else:
            kwargs["capacityProviderStrategy"] = [
                {"capacityProvider": str(settings.capacity_provider), "weight": 1}
            ]
        answer = self.retrier.call("RunTask", lambda: self.client.run_task(**kwargs))
        return list(answer.get("tasks") or []), list(answer.get("failures") or [])

    def describe_tasks(self, arns: Sequence[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for i in range(0, len(arns), DESCRIBE_BATCH):
            batch = list(arns[i : i + DESCRIBE_BATCH])
            answer = self.retrier.call(
                "DescribeTasks",
                lambda b=batch: self.client.describe_tasks(cluster=self.cluster, tasks=b),  # type: ignore[misc]
            )
            tasks.extend(answer.get("tasks") or [])
        return tasks

    def stop_task(self, arn: str, reason: str) -> None:
        self.retrier.call(
            "StopTask",
            lambda: self.client.stop_task(cluster=self.cluster, task=arn, reason=reason),
        )

    def list_tasks(self, started_by: str) -> list[str]:
        """Task ARNs (not yet stopped) started by this probe run; all pages."""
        return list(self._list_tasks(started_by))

    def _list_tasks(self, started_by: str) -> Iterator[str]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"cluster": self.cluster, "startedBy": started_by}
            if token:
                kwargs["nextToken"] = token
            answer = self.retrier.call("ListTasks", lambda k=kwargs: self.client.list_tasks(**k))  # type: ignore[misc]
            yield from answer.get("taskArns") or []
            token = answer.get("nextToken")
            if not token:
                return

    def deregister(self, arn: str) -> None:
        self.retrier.call(
            "DeregisterTaskDefinition",
            lambda: self.client.deregister_task_definition(taskDefinition=arn),
        )

    def delete(self, arns: Sequence[str]) -> None:
        for i in range(0, len(arns), DELETE_BATCH):
            batch = list(arns[i : i + DELETE_BATCH])
            self.retrier.call(
                "DeleteTaskDefinitions",
                lambda b=batch: self.client.delete_task_definitions(taskDefinitions=b),  # type: ignore[misc]
            )

"""The boto3 edge for ECS: every call the probe makes, with throttling and lost-answer retries.

The client is handed in (a boto3 ``ecs`` client, or a test fake); errors are recognised by
their botocore shape (``response["Error"]["Code"]``, ``ResponseMetadata.HTTPStatusCode``, the
exception class name for connection errors), so nothing here imports botocore.

Two kinds of failure are retried with capped, jittered backoff up to a budget:
- throttling in every form AWS uses (see ``is_throttle``);
- answers that were lost (5xx, timeouts, dropped connections): the request may or may not have
  been carried out. RunTask is retried with the *same* ``clientToken``, so ECS answers with the
  task it already started instead of starting a second one.
Past the budget: ``AwsError`` (``throttled=True`` for throttling).
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
# Error codes AWS SDKs treat as throttling (botocore retryhandler and the ECS/EC2/Logs models).
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
# Throttling reported inside another error's message, e.g. RunTask:
# "InvalidParameterException: Error retrieving subnet information ...: Request limit exceeded
# (RequestLimitExceeded)" (EC2 throttling surfacing through ECS, dask-cloudprovider#56) or
# "... Rate exceeded" (dagster#33439).
THROTTLE_MESSAGES = (
    "rate exceeded",
    "request limit exceeded",
    "requestlimitexceeded",
    "too many requests",
    "throttl",
)
# The server failed or never answered: the request may have been carried out.
SERVER_CODES = frozenset(
    {
        "ServerException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# botocore exception class names for a request whose answer never arrived.
LOST_ANSWER_ERRORS = frozenset(
    {
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "EndpointConnectionError",
        "ResponseStreamingError",
        "IncompleteReadError",
    }
)
DESCRIBE_BATCH = 100
DELETE_BATCH = 10


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        code = error.get("Code") if isinstance(error, Mapping) else None
        return None if code is None else str(code)
    return None


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata") or {}
        status = meta.get("HTTPStatusCode") if isinstance(meta, Mapping) else None
        return status if isinstance(status, int) else None
    return None


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        if isinstance(error, Mapping):
            return str(error.get("Message") or exc)
    return str(exc)


def is_throttle(exc: BaseException) -> bool:
    code = error_code(exc)
    if code in THROTTLE_CODES or http_status(exc) == 429:
        return True
    if code is None:
        return False
    lowered = error_message(exc).lower()
    return any(marker in lowered for marker in THROTTLE_MESSAGES)


def is_lost_answer(exc: BaseException) -> bool:
    """5xx or no answer at all: the call may have taken effect."""
    if type(exc).__name__ in LOST_ANSWER_ERRORS:
        return True
    status = http_status(exc)
    return error_code(exc) in SERVER_CODES or (status is not None and status >= 500)


class Retrier:
    """Calls ``fn`` again while it is throttled or its answer was lost (capped, jittered)."""

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

    def call(self, what: str, fn: Callable[[], T], *, retry_lost: bool = True) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                throttled = is_throttle(exc)
                lost = not throttled and retry_lost and is_lost_answer(exc)
                if not (throttled or lost):
                    raise _translate(what, exc) from exc
                if attempt >= self.budget:
                    if throttled:
                        raise AwsError(
                            f"{what} still throttled after {attempt + 1} attempts",
                            hint="lower probe.concurrency or retry later (AWS API rate limits)",
                            throttled=True,
                        ) from exc
                    raise AwsError(
                        f"{what}: no answer after {attempt + 1} attempts ({_detail(exc)})",
                        hint="AWS or the network failed repeatedly; retry later",
                    ) from exc
                delay = backoff_delay(
                    attempt, base=self.base, cap=self.cap, jitter=self.rng.random()
                )
                why = "throttled" if throttled else "answer lost"
                log.debug("%s %s; retrying in %.1f s", what, why, delay)
                self.sleep(delay)
                attempt += 1


def _detail(exc: BaseException) -> str:
    code = error_code(exc)
    return f"{code}: {error_message(exc)}" if code else str(exc)


def _translate(what: str, exc: Exception) -> Exception:
    if error_code(exc) is None and not type(exc).__module__.startswith("botocore"):
        return exc  # not an AWS error: a bug, let it surface
    return AwsError(f"{what} failed: {_detail(exc)}"[:2000])


class EcsApi:
    def __init__(self, client: Any, *, cluster: str, retrier: Retrier) -> None:
        self.client = client
        self.cluster = cluster
        self.retrier = retrier

    def describe_cluster(self) -> dict[str, Any] | None:
        answer = self.retrier.call(
            "DescribeClusters", lambda: self.client.describe_clusters(clusters=[self.cluster])
        )
        clusters = [c for c in answer.get("clusters") or () if c.get("status") != "INACTIVE"]
        return dict(clusters[0]) if clusters else None

    def describe_task_definition(self, name: str) -> dict[str, Any]:
        answer = self.retrier.call(
            "DescribeTaskDefinition",
            lambda: self.client.describe_task_definition(taskDefinition=name, include=["TAGS"]),
        )
        definition = dict(answer["taskDefinition"])
        definition["tags"] = list(answer.get("tags") or [])
        return definition

    def register(self, spec: Mapping[str, Any]) -> str:
        """A lost answer is retried: an extra revision it may leave is found by its tags."""
        answer = self.retrier.call(
            "RegisterTaskDefinition", lambda: self.client.register_task_definition(**spec)
        )
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def list_task_definitions(self, family: str, status: str = "ACTIVE") -> list[str]:
        arns: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"familyPrefix": family, "status": status}
            if token:
                kwargs["nextToken"] = token
            answer = self.retrier.call(
                "ListTaskDefinitions",
                lambda k=kwargs: self.client.list_task_definitions(**k),  # type: ignore[misc]
            )
            arns.extend(str(a) for a in answer.get("taskDefinitionArns") or ())
            token = answer.get("nextToken")
            if not token:
                return arns

    def run_task_kwargs(
        self,
        *,
        task_definition: str,
        count: int,
        settings: ProbeSettings,
        started_by: str,
        client_token: str,
        tags: Mapping[str, str],
    ) -> dict[str, Any]:
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
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        if settings.capacity_provider is CapacityProvider.FARGATE:
            kwargs["launchType"] = "FARGATE"
        else:
            kwargs["capacityProviderStrategy"] = [
                {"capacityProvider": str(settings.capacity_provider), "weight": 1}
            ]
        return kwargs

    def run_task(
        self, kwargs: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Start tasks; a lost answer is retried with the same ``clientToken`` (idempotent)."""
        answer = self.retrier.call("RunTask", lambda: self.client.run_task(**kwargs))
        return list(answer.get("tasks") or []), list(answer.get("failures") or [])

    def describe_tasks(
        self, arns: Sequence[str], *, include_tags: bool = False
    ) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for i in range(0, len(arns), DESCRIBE_BATCH):
            kwargs: dict[str, Any] = {
                "cluster": self.cluster,
                "tasks": list(arns[i : i + DESCRIBE_BATCH]),
            }
            if include_tags:
                kwargs["include"] = ["TAGS"]
            answer = self.retrier.call(
                "DescribeTasks",
                lambda k=kwargs: self.client.describe_tasks(**k),  # type: ignore[misc]
            )
            tasks.extend(answer.get("tasks") or [])
        return tasks

    def stop_task(self, arn: str, reason: str) -> None:
        """Stop a task; one that is already stopped or gone counts as stopped."""
        try:
            self.retrier.call(
                "StopTask",
                lambda: self.client.stop_task(cluster=self.cluster, task=arn, reason=reason[:255]),
            )
        except AwsError as exc:
            cause = exc.__cause__
            lowered = "" if cause is None else error_message(cause).lower()
            if (
                cause is not None
                and error_code(cause)
                in {
                    "InvalidParameterException",
                    "ClientException",
                }
                and ("not found" in lowered or "stopped" in lowered or "does not exist" in lowered)
            ):
                log.debug("StopTask %s: already gone (%s)", arn, lowered)
                return
            raise

    def list_tasks(self, *, started_by: str | None = None, family: str | None = None) -> list[str]:
        """ARNs of tasks not yet asked to stop (desiredStatus RUNNING); all pages."""
        return list(self._list_tasks(started_by, family))

    def _list_tasks(self, started_by: str | None, family: str | None) -> Iterator[str]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"cluster": self.cluster, "desiredStatus": "RUNNING"}
            if started_by:
                kwargs["startedBy"] = started_by
            if family:
                kwargs["family"] = family
            if token:
                kwargs["nextToken"] = token
            answer = self.retrier.call("ListTasks", lambda k=kwargs: self.client.list_tasks(**k))  # type: ignore[misc]
            yield from (str(a) for a in answer.get("taskArns") or ())
            token = answer.get("nextToken")
            if not token:
                return

    def deregister(self, arn: str) -> None:
        try:
            self.retrier.call(
                "DeregisterTaskDefinition",
                lambda: self.client.deregister_task_definition(taskDefinition=arn),
            )
        except AwsError as exc:
            cause = exc.__cause__
            if cause is not None and "inactive" in error_message(cause).lower():
                return  # deregistered by an earlier (lost) answer
            raise

    def delete(self, arns: Sequence[str]) -> list[str]:
        """Delete INACTIVE revisions; returns the ARNs AWS reported as not deleted."""
        left: list[str] = []
        for i in range(0, len(arns), DELETE_BATCH):
            batch = list(arns[i : i + DELETE_BATCH])
            answer = self.retrier.call(
                "DeleteTaskDefinitions",
                lambda b=batch: self.client.delete_task_definitions(taskDefinitions=b),  # type: ignore[misc]
            )
            for failure in answer.get("failures") or ():
                left.append(f"{failure.get('arn')}: {failure.get('reason')}")
        return left

"""Probe task-definition revisions (pure): one per arm, the app image pinned by digest.

Either derived from the user's task definition (the ``taskDefinition`` of a
DescribeTaskDefinition answer) or built from the settings. Every revision gets a probe family
``soci-ci-probe-<arm>`` (so the IAM policy can scope RunTask to ``soci-ci-probe-*``),
``awslogs`` logging to the probe log group with a stream prefix of the probe run id, tags
(the probe run id, the user's cost tags) and the check container (``check_image.py``): an
essential watchdog that ends the task at its deadline and reports the snapshotter. It has no
``dependsOn``: the app's pull and start are not delayed by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from soci_ci.errors import ConfigError
from soci_ci.probe import check_image
from soci_ci.probe.model import ArmName
from soci_ci.probe.settings import ProbeSettings, check_size

FAMILY_PREFIX = "soci-ci-probe"
CHECK_NAME = check_image.CHECK_CONTAINER
TAG_RUN = "soci-ci:probe-run"
TAG_DEADLINE = "soci-ci:deadline"  # epoch seconds after which the task is stale
TAG_CREATED = "soci-ci:created"  # epoch seconds (on revisions)
# Revisions: the latest time a run may still start tasks from it (created + the run's wall-time
# cap + a task deadline); a later probe removes revisions of other runs only after it.
# Fields of a DescribeTaskDefinition answer that RegisterTaskDefinition does not accept.
_READ_ONLY = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
        "tags",
    }
)
_DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_ECS_TAG_VALUE = re.compile(r"^[\w.:/=+\-@ ]{0,256}$")


def family_name(arm: ArmName | str) -> str:
    return f"{FAMILY_PREFIX}-{arm}"


def probe_families() -> tuple[str, ...]:
    return (*tuple(family_name(a) for a in ArmName), family_name("smoke"))


def stream_prefix(run_id: str) -> str:
    return run_id


def log_stream(run_id: str, container: str, task_arn: str) -> str:
    """awslogs stream name: ``prefix/container/task-id`` (no listing needed)."""
    return f"{stream_prefix(run_id)}/{container}/{task_arn.rsplit('/', 1)[-1]}"


def check_pinned(image: str) -> None:
    if not _DIGEST_REF.match(image):
        raise ConfigError(
            f"probe image {image!r} is not pinned by digest",
            hint="pass repository@sha256:<64 hex> (soci-ci index --output-json records both)",
        )


def resource_tags(run_id: str, user_tags: Mapping[str, str], **extra: str) -> dict[str, str]:
    """Tags of every task and revision: the run id, soci-ci's own, the user's cost tags."""
    tags = {TAG_RUN: run_id, **extra, **dict(user_tags)}
    for key, value in tags.items():
        if not _ECS_TAG_VALUE.match(value) or not 1 <= len(key) <= 128:
            raise ConfigError(f"probe.tags: {key!r}={value!r} is not a valid ECS tag")
    return tags


def log_configuration(log_group: str, region: str, run_id: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix(run_id),
        },
    }


def _app_container(settings: ProbeSettings, image: str) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": settings.container_name,
        "image": image,
        "essential": True,
        # Fargate does not need container-level memory; moto#7272 crashes RunTask without it.
        "memoryReservation": 128,
        "environment": [{"name": k, "value": v} for k, v in sorted(settings.environment.items())],
    }
    if settings.command is not None:
        container["command"] = list(settings.command)
    return container


def _container_memory(container: Mapping[str, Any]) -> int:
    """What a container reserves out of the task's memory (hard limit, else soft)."""
    for key in ("memory", "memoryReservation"):
        value = container.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def check_memory(spec: Mapping[str, Any]) -> None:
    """The containers' reservations (with the check container) fit in the task's memory."""
    try:
        task_memory = int(str(spec.get("memory")))
    except ValueError:
        raise ConfigError(
            f"the probe task definition has no numeric task memory ({spec.get('memory')!r})",
            hint="Fargate needs task-level memory; set it in the task definition",
        ) from None
    used = sum(_container_memory(c) for c in spec.get("containerDefinitions") or ())
    if used > task_memory:
        names = ", ".join(
            f"{c.get('name')} {_container_memory(c)}" for c in spec["containerDefinitions"]
        )
        raise ConfigError(
            f"the probe task's containers reserve {used} MiB, more than the task's "
            f"{task_memory} MiB ({names})",
            hint="raise the task memory or lower a container's memory/memoryReservation",
        )


def build(
    settings: ProbeSettings,
    *,
    arm: ArmName | str,
    image: str,
    region: str,
    run_id: str,
    check_image_ref: str,
    created: int,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """RegisterTaskDefinition keyword arguments for one arm's probe revision."""
    check_pinned(image)
    if settings.log_group is None:
        raise ConfigError("probe.log_group is required")
    if base is None:
        spec: dict[str, Any] = {
            "cpu": settings.cpu,
            "memory": settings.memory,
            "containerDefinitions": [_app_container(settings, image)],
        }
    else:
        spec = {k: v for k, v in base.items() if k not in _READ_ONLY}
        containers = [dict(c) for c in spec.get("containerDefinitions") or ()]
        app = next((c for c in containers if c.get("name") == settings.container_name), None)
        if app is None:
            names = ", ".join(str(c.get("name")) for c in containers) or "none"
            raise ConfigError(
                f"task definition has no container {settings.container_name!r} ({names})",
                hint="set probe.container_name to the application container",
            )
        app["image"] = image
        app["essential"] = True
        if settings.environment:
            env = {e["name"]: e["value"] for e in app.get("environment") or ()}
            env.update(settings.environment)
            app["environment"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
        if settings.command is not None:
            app["command"] = list(settings.command)
        spec["containerDefinitions"] = [c for c in containers if c.get("name") != CHECK_NAME]
        try:
            check_size(
                int(str(spec.get("cpu"))),
                int(str(spec.get("memory"))),
                max_cpu=settings.max_cpu,
                max_memory=settings.max_memory,
            )
        except ValueError:
            raise ConfigError(
                f"task definition {settings.task_definition} has no task-level cpu/memory",
                hint="Fargate needs task-level cpu and memory",
            ) from None
    spec["family"] = family_name(arm)
    spec["requiresCompatibilities"] = ["FARGATE"]
    spec["networkMode"] = "awsvpc"
    platform = dict(spec.get("runtimePlatform") or {})  # a derived definition keeps its own
    platform.setdefault("cpuArchitecture", str(settings.architecture))
    platform["operatingSystemFamily"] = "LINUX"
    spec["runtimePlatform"] = platform
    for key, value in (
        ("executionRoleArn", settings.execution_role_arn),
        ("taskRoleArn", settings.task_role_arn),
    ):
        if value is not None:
            spec[key] = value
    if not spec.get("executionRoleArn"):
        raise ConfigError(
            "probe.execution_role_arn is required: the task definition has none, and Fargate "
            "needs one for ECR pulls and the awslogs driver",
            hint="set probe.execution_role_arn (infra/probe.yaml creates one)",
        )
    logging_config = log_configuration(settings.log_group, region, run_id)
    for container in spec["containerDefinitions"]:
        if container.get("name") == settings.container_name:
            container["logConfiguration"] = logging_config
            if settings.ready.health_check is not None:
                container["healthCheck"] = settings.ready.health_check.to_ecs()
    spec["containerDefinitions"].append(
        check_image.container(
            check_image_ref,
            deadline_seconds=settings.task_deadline_seconds,
            log_configuration=logging_config,
        )
    )
    check_memory(spec)
    expires = created + settings.max_wall_seconds + settings.task_deadline_seconds
    tags = resource_tags(
        run_id, settings.tags, **{TAG_CREATED: str(created), TAG_DEADLINE: str(expires)}
    )
    spec["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return spec

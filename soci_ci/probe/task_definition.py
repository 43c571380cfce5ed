"""Probe task-definition revisions (pure): one per arm, the app image pinned by digest.

Either derived from the user's task definition (the ``taskDefinition`` of a
DescribeTaskDefinition answer) or built from the settings. Every revision gets a probe family
``soci-ci-probe-<arm>`` (so the IAM policy can scope RunTask to ``soci-ci-probe-*``),
``awslogs`` logging to the probe log group with a stream prefix of the probe run id, and,
when ``snapshotter_check`` is on, a non-essential sidecar that prints the Task Metadata
Endpoint v4 ``/task`` document (it holds each container's ``Snapshotter``) to its log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from soci_ci.errors import ConfigError
from soci_ci.probe.model import ArmName
from soci_ci.probe.settings import ProbeSettings

FAMILY_PREFIX = "soci-ci-probe"
SIDECAR_NAME = "soci-ci-snapshotter"
# busybox sh + wget; any image with a POSIX shell and wget works (see docs/probe.md).
DEFAULT_SIDECAR_IMAGE = "public.ecr.aws/docker/library/busybox:stable"
SIDECAR_COMMAND = (
    "sh",
    "-c",
    'wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" | tr -d "\\n"; echo',
)
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
    }
)
_DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def family_name(arm: ArmName) -> str:
    return f"{FAMILY_PREFIX}-{arm}"


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


def _log_configuration(settings: ProbeSettings, region: str, run_id: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": settings.log_group,
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


def sidecar_container(
    settings: ProbeSettings, region: str, run_id: str, image: str
) -> dict[str, Any]:
    return {
        "name": SIDECAR_NAME,
        "image": image,
        "essential": False,
        "memoryReservation": 16,
        "command": list(SIDECAR_COMMAND),
        "dependsOn": [{"containerName": settings.container_name, "condition": "START"}],
        "logConfiguration": _log_configuration(settings, region, run_id),
    }


def build(
    settings: ProbeSettings,
    *,
    arm: ArmName,
    image: str,
    region: str,
    run_id: str,
    base: Mapping[str, Any] | None = None,
    sidecar_image: str = DEFAULT_SIDECAR_IMAGE,
) -> dict[str, Any]:
    """RegisterTaskDefinition keyword arguments for one arm's probe revision."""
    check_pinned(image)
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
        spec["containerDefinitions"] = [c for c in containers if c.get("name") != SIDECAR_NAME]
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
    for container in spec["containerDefinitions"]:
        if container.get("name") == settings.container_name:
            container["logConfiguration"] = _log_configuration(settings, region, run_id)
    if settings.snapshotter_check:
        spec["containerDefinitions"].append(
            sidecar_container(settings, region, run_id, sidecar_image)
        )
    spec["tags"] = [{"key": "soci-ci:probe-run", "value": run_id}]
    return spec

from __future__ import annotations

import json

import pytest

from soci_ci.errors import ConfigError
from soci_ci.probe import check_image
from soci_ci.probe.model import ArmName
from soci_ci.probe.settings import ProbeSettings
from soci_ci.probe.task_definition import build, log_stream

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "c" * 64
RUN_ID = "soci-ci-probe-20260314142520-abc123"
CHECK = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "d" * 64
CREATED = 1773498320
BASE = {"log_group": "/soci-ci/probe", "execution_role_arn": "arn:aws:iam::1:role/exec"}
TAGS = [
    {"key": "soci-ci:probe-run", "value": RUN_ID},
    {"key": "soci-ci:created", "value": str(CREATED)},
    {"key": "soci-ci:deadline", "value": str(CREATED + 3600 + 720)},  # wall cap + task deadline
]


def check_container(deadline: int = 720) -> dict[str, object]:
    """The check container: essential (watchdog), no dependsOn on the app."""
    return {
        "name": "soci-ci-check",
        "image": CHECK,
        "essential": True,
        "memoryReservation": 8,
        "entryPoint": ["/bin/busybox", "sh", "-c"],
        "command": [check_image.SCRIPT],
        "environment": [{"name": "SOCI_CI_DEADLINE_SECONDS", "value": str(deadline)}],
        "logConfiguration": LOGS,
    }


LOGS = {
    "logDriver": "awslogs",
    "options": {
        "awslogs-group": "/soci-ci/probe",
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": RUN_ID,
    },
}


def test_built_from_settings() -> None:
    settings = ProbeSettings.from_mapping(
        {
            **BASE,
            "cpu": "512",
            "memory": "1024",
            "architecture": "ARM64",
            "execution_role_arn": "arn:aws:iam::123456789012:role/soci-probe-exec",
            "environment": {"B": "2", "A": "1"},
            "command": ["serve"],
            "tags": {"cost-center": "ci"},
        }
    )
    spec = build(
        settings,
        arm=ArmName.SOCI,
        image=IMAGE,
        region="us-east-1",
        run_id=RUN_ID,
        check_image_ref=CHECK,
        created=CREATED,
    )
    assert spec == {
        "family": "soci-ci-probe-soci",
        "cpu": "512",
        "memory": "1024",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "executionRoleArn": "arn:aws:iam::123456789012:role/soci-probe-exec",
        "containerDefinitions": [
            {
                "name": "app",
                "image": IMAGE,
                "essential": True,
                "memoryReservation": 128,
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "command": ["serve"],
                "logConfiguration": LOGS,
            },
            check_container(),
        ],
        "tags": [*TAGS, {"key": "cost-center", "value": "ci"}],
    }
    assert "dependsOn" not in json.dumps(spec)


def test_derived_from_user_definition_keeps_their_settings() -> None:
    described = {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
        "family": "web",
        "revision": 7,
        "status": "ACTIVE",
        "registeredAt": "2026-01-01T00:00:00Z",
        "requiresAttributes": [{"name": "ecs.capability.execution-role-awslogs"}],
        "compatibilities": ["EC2", "FARGATE"],
        "taskRoleArn": "arn:aws:iam::123456789012:role/web",
        "runtimePlatform": {"cpuArchitecture": "ARM64"},
        "cpu": "2048",
        "memory": "4096",
        "containerDefinitions": [
            {"name": "envoy", "image": "envoy:v1", "essential": True},
            {
                "name": "app",
                "image": "app:latest",
                "environment": [{"name": "A", "value": "old"}, {"name": "Z", "value": "z"}],
                "healthCheck": {"command": ["CMD-SHELL", "true"]},
            },
        ],
    }
    settings = ProbeSettings.from_mapping(
        {**BASE, "task_definition": "web", "environment": {"A": "new"}}
    )
    spec = build(
        settings,
        arm=ArmName.NO_SOCI,
        image=IMAGE,
        region="us-east-1",
        run_id=RUN_ID,
        base=described,
        check_image_ref=CHECK,
        created=CREATED,
    )
    assert spec == {
        "family": "soci-ci-probe-no-soci",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web",
        "executionRoleArn": "arn:aws:iam::1:role/exec",
        "cpu": "2048",
        "memory": "4096",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [
            {"name": "envoy", "image": "envoy:v1", "essential": True},
            {
                "name": "app",
                "image": IMAGE,
                "essential": True,
                "environment": [{"name": "A", "value": "new"}, {"name": "Z", "value": "z"}],
                "healthCheck": {"command": ["CMD-SHELL", "true"]},
                "logConfiguration": LOGS,
            },
            check_container(),
        ],
        "tags": TAGS,
    }
    assert described["containerDefinitions"][1]["image"] == "app:latest"  # input untouched


def test_refusals() -> None:
    settings = ProbeSettings.from_mapping(BASE)
    kw = {"region": "r", "run_id": RUN_ID, "check_image_ref": CHECK, "created": CREATED}
    with pytest.raises(ConfigError, match="not pinned by digest"):
        build(settings, arm=ArmName.SOCI, image="repo:latest", **kw)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"no container 'app' \(web\)"):
        build(
            settings,
            arm=ArmName.SOCI,
            image=IMAGE,
            base={"containerDefinitions": [{"name": "web"}], "cpu": "256", "memory": "512"},
            **kw,  # type: ignore[arg-type]
        )
    derived = ProbeSettings.from_mapping({"log_group": "/g", "task_definition": "web"})
    base = {"cpu": "256", "memory": "512", "containerDefinitions": [{"name": "app"}]}
    with pytest.raises(ConfigError, match=r"probe\.execution_role_arn is required"):
        build(derived, arm=ArmName.SOCI, image=IMAGE, base=base, **kw)  # type: ignore[arg-type]
    full = {
        **base,
        "executionRoleArn": "arn:x",
        "containerDefinitions": [{"name": "app", "memory": 512}],
    }
    with pytest.raises(ConfigError, match=r"reserve 520 MiB, more than the task's 512 MiB"):
        build(derived, arm=ArmName.SOCI, image=IMAGE, base=full, **kw)  # type: ignore[arg-type]


def test_log_stream_name() -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:task/default/0123abcd"
    assert log_stream(RUN_ID, "app", arn) == f"{RUN_ID}/app/0123abcd"

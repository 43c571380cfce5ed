from __future__ import annotations

from typing import Any

import pytest

from soci_ci.errors import ConfigError
from soci_ci.probe.model import ArmName
from soci_ci.probe.settings import ProbeSettings
from soci_ci.probe.task_definition import build, log_stream

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "c" * 64
RUN_ID = "soci-ci-probe-20260314142520-abc123"
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
            "cpu": "512",
            "memory": "1024",
            "architecture": "ARM64",
            "execution_role_arn": "arn:aws:iam::123456789012:role/soci-probe-exec",
            "environment": {"B": "2", "A": "1"},
            "command": ["serve"],
        }
    )
    spec = build(settings, arm=ArmName.SOCI, image=IMAGE, region="us-east-1", run_id=RUN_ID)
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
            {
                "name": "soci-ci-snapshotter",
                "image": "public.ecr.aws/docker/library/busybox:stable",
                "essential": False,
                "memoryReservation": 16,
                "command": [
                    "sh",
                    "-c",
                    'wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task" | tr -d "\\n"; echo',
                ],
                "dependsOn": [{"containerName": "app", "condition": "START"}],
                "logConfiguration": LOGS,
            },
        ],
        "tags": [{"key": "soci-ci:probe-run", "value": RUN_ID}],
    }


def test_derived_from_user_definition_keeps_their_settings() -> None:
    described: dict[str, Any] = {
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
        {"task_definition": "web", "environment": {"A": "new"}, "snapshotter_check": False}
    )
    spec = build(
        settings,
        arm=ArmName.NO_SOCI,
        image=IMAGE,
        region="us-east-1",
        run_id=RUN_ID,
        base=described,
    )
    assert spec == {
        "family": "soci-ci-probe-no-soci",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web",
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
        ],
        "tags": [{"key": "soci-ci:probe-run", "value": RUN_ID}],
    }
    assert described["containerDefinitions"][1]["image"] == "app:latest"  # input untouched


def test_refusals() -> None:
    settings = ProbeSettings()
    with pytest.raises(ConfigError, match="not pinned by digest"):
        build(settings, arm=ArmName.SOCI, image="repo:latest", region="r", run_id=RUN_ID)
    with pytest.raises(ConfigError, match=r"no container 'app' \(web\)"):
        build(
            settings,
            arm=ArmName.SOCI,
            image=IMAGE,
            region="r",
            run_id=RUN_ID,
            base={"containerDefinitions": [{"name": "web"}]},
        )


def test_log_stream_name() -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:task/default/0123abcd"
    assert log_stream(RUN_ID, "app", arn) == f"{RUN_ID}/app/0123abcd"

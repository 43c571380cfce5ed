from __future__ import annotations

import pytest

from soci_ci.errors import ConfigError
from soci_ci.probe.settings import (
    Architecture,
    CapacityProvider,
    NetworkSettings,
    ProbeSettings,
    ReadyFallback,
    ReadySettings,
)


def test_defaults_match_contract() -> None:
    assert ProbeSettings.from_mapping({"enabled": False}) == ProbeSettings()
    s = ProbeSettings()
    assert (s.runs, s.concurrency, s.cluster, s.cpu, s.memory) == (5, 4, "default", "1024", "2048")
    assert s.ready == ReadySettings(
        log_regex=None, fallback=ReadyFallback.NONE, timeout_seconds=600
    )


def test_full_mapping() -> None:
    s = ProbeSettings.from_mapping(
        {
            "enabled": True,
            "region": "eu-west-1",
            "cluster": "probe",
            "runs": 7,
            "concurrency": 2,
            "capacity_provider": "FARGATE_SPOT",
            "cpu": 512,
            "memory": 1024,
            "architecture": "ARM64",
            "environment": {"MODE": "probe", "N": 3},
            "command": ["java", "-jar", "app.jar"],
            "network": {
                "subnets": ["subnet-1"],
                "security_groups": ["sg-1"],
                "assign_public_ip": False,
            },
            "ready": {"log_regex": "Started .* in", "fallback": "health", "timeout_seconds": 300},
            "snapshotter_check": False,
            "baseline_image": None,
        }
    )
    assert s == ProbeSettings(
        region="eu-west-1",
        cluster="probe",
        runs=7,
        concurrency=2,
        capacity_provider=CapacityProvider.FARGATE_SPOT,
        cpu="512",
        memory="1024",
        architecture=Architecture.ARM64,
        environment={"MODE": "probe", "N": "3"},
        command=("java", "-jar", "app.jar"),
        network=NetworkSettings(
            subnets=("subnet-1",), security_groups=("sg-1",), assign_public_ip=False
        ),
        ready=ReadySettings(
            log_regex="Started .* in", fallback=ReadyFallback.HEALTH, timeout_seconds=300
        ),
        snapshotter_check=False,
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"runs": 0}, "probe.runs must be between 1 and 100, not 0"),
        ({"colour": "red"}, "unknown probe setting(s): colour"),
        (
            {"ready": {"log_regex": "("}},
            "probe.ready.log_regex: not a supported regular expression",
        ),
        (
            {"capacity_provider": "EC2"},
            "invalid probe setting: 'EC2' is not a valid CapacityProvider",
        ),
    ],
)
def test_invalid(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProbeSettings.from_mapping(mapping)
    assert str(caught.value).startswith(message)


def test_overrides() -> None:
    s = ProbeSettings().with_overrides(runs=3, cluster=None)
    assert (s.runs, s.cluster) == (3, "default")
    with pytest.raises(ConfigError):
        ProbeSettings().with_overrides(runs=1000)


def test_a_pull_request_cannot_raise_the_cost_caps_or_swap_the_check_image() -> None:
    from soci_ci.config.trust import TRUSTED_SETTINGS

    for key in ("check_image", "create_log_group", "tags", "max_cpu", "max_memory"):
        assert f"probe.{key}" in TRUSTED_SETTINGS
    assert {"probe.max_task_seconds", "probe.max_wall_seconds"} <= set(TRUSTED_SETTINGS)

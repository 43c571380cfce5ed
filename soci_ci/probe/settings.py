"""Probe settings from the (already schema-validated) ``probe`` section of the config.

``validate`` answers before any AWS call: what is required to register a task definition
(execution role, log group, subnets) and the cost caps (cpu/memory, runs x task deadline,
wall time). Each error names its config key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from soci_ci.errors import ConfigError
from soci_ci.user_regex import UserRegex, compile_user_regex

MAX_RUNS = 100
# Cost caps (defaults; each can be raised in the config up to the schema's maximum).
DEFAULT_MAX_CPU = 4096  # CPU units (4 vCPU)
DEFAULT_MAX_MEMORY = 16384  # MiB
DEFAULT_MAX_TASK_SECONDS = 4 * 3600  # runs x arms x task deadline, in task-seconds
DEFAULT_MAX_WALL_SECONDS = 3600  # the whole probe
DEFAULT_INFRA_RETRIES = 3  # capacity / quota / Spot interruptions re-run, over the probe
MAX_READY_TIMEOUT = 1800
# A task's own deadline (its watchdog) = ready timeout + this margin (snapshotter report,
# provisioning before the watchdog starts is not counted by it).
DEADLINE_MARGIN_SECONDS = 120
# Valid Fargate task sizes (CPU units -> allowed memory in MiB), ECS developer guide.
_FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
MAX_USER_TAGS = 10


class CapacityProvider(StrEnum):
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


class Architecture(StrEnum):
    X86_64 = "X86_64"
    ARM64 = "ARM64"


class ReadyFallback(StrEnum):
    NONE = "none"  # no ready line within the timeout: the run failed (never ready)
    HEALTH = "health"  # the task turning HEALTHY (seen by polling) counts as ready
    STARTED = "started"  # startedAt counts as ready


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheck:
    """An ECS container health check added to the app container (readiness = HEALTHY)."""

    command: tuple[str, ...]
    interval: int = 5
    timeout: int = 2
    retries: int = 3
    start_period: int = 0

    def to_ecs(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "interval": self.interval,
            "timeout": self.timeout,
            "retries": self.retries,
            "startPeriod": self.start_period,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadySettings:
    log_regex: str | None = None  # None: the first log line of the app container
    fallback: ReadyFallback = ReadyFallback.NONE
    timeout_seconds: float = 600.0
    health_check: HealthCheck | None = None

    def pattern(self) -> UserRegex | None:
        if self.log_regex is None:
            return None
        return compile_user_regex(self.log_regex, key="probe.ready.log_regex")

    @property
    def first_line_only(self) -> bool:
        """Readiness is the app's first log line: it stops the clock before lazy loading."""
        return (
            self.log_regex is None
            and self.health_check is None
            and self.fallback is not ReadyFallback.HEALTH
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSettings:
    region: str | None = None
    cluster: str = "default"
    runs: int = 5
    concurrency: int = 4
    capacity_provider: CapacityProvider = CapacityProvider.FARGATE
    task_definition: str | None = None
    container_name: str = "app"
    cpu: str = "1024"
    memory: str = "2048"
    architecture: Architecture = Architecture.X86_64
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    log_group: str | None = None
    create_log_group: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    network: NetworkSettings = field(default_factory=NetworkSettings)
    ready: ReadySettings = field(default_factory=ReadySettings)
    snapshotter_check: bool = True
    check_image: str | None = None  # None: soci-ci builds it and pushes it next to the app
    baseline_image: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # e.g. a cost-allocation tag
    max_cpu: int = DEFAULT_MAX_CPU
    max_memory: int = DEFAULT_MAX_MEMORY
    max_task_seconds: int = DEFAULT_MAX_TASK_SECONDS
    max_wall_seconds: int = DEFAULT_MAX_WALL_SECONDS
    infra_retries: int = DEFAULT_INFRA_RETRIES

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> ProbeSettings:
        """Build from the ``probe`` mapping; missing keys take the contract defaults."""
        data = dict(mapping or {})
        data.pop("enabled", None)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown probe setting(s): {', '.join(unknown)}")
        try:
            network = data.pop("network", None) or {}
            ready = data.pop("ready", None) or {}
            command = data.pop("command", None)
            health = ready.get("health_check")
            settings = cls(
                **{k: v for k, v in data.items() if v is not None and k not in _CONVERTED},
                capacity_provider=CapacityProvider(data.get("capacity_provider") or "FARGATE"),
                architecture=Architecture(data.get("architecture") or "X86_64"),
                runs=int(_value(data, "runs", 5)),
                concurrency=int(_value(data, "concurrency", 4)),
                cpu=str(_value(data, "cpu", "1024")),
                memory=str(_value(data, "memory", "2048")),
                environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
                tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
                command=None if command is None else tuple(str(c) for c in command),
                network=NetworkSettings(
                    subnets=tuple(network.get("subnets") or ()),
                    security_groups=tuple(network.get("security_groups") or ()),
                    assign_public_ip=bool(network.get("assign_public_ip", True)),
                ),
                ready=ReadySettings(
                    log_regex=ready.get("log_regex"),
                    fallback=ReadyFallback(ready.get("fallback") or "none"),
                    timeout_seconds=float(_value(ready, "timeout_seconds", 600)),
                    health_check=None
                    if not health
                    else HealthCheck(
                        command=tuple(str(c) for c in health["command"]),
                        interval=int(health.get("interval", 5)),
                        timeout=int(health.get("timeout", 2)),
                        retries=int(health.get("retries", 3)),
                        start_period=int(health.get("start_period", 0)),
                    ),
                ),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"invalid probe setting: {exc}") from exc
        settings.check_values()
        return settings

    def with_overrides(self, **changes: Any) -> ProbeSettings:
        updated = replace(self, **{k: v for k, v in changes.items() if v is not None})
        updated.check_values()
        return updated

    @property
    def task_deadline_seconds(self) -> int:
        """How long a probe task may live (its watchdog ends it then)."""
        return math.ceil(self.ready.timeout_seconds) + DEADLINE_MARGIN_SECONDS

    def check_values(self) -> None:
        """Values that are wrong whatever the run (also checked for partial configs)."""
        if not 1 <= self.runs <= MAX_RUNS:
            raise ConfigError(f"probe.runs must be between 1 and {MAX_RUNS}, not {self.runs}")
        if self.concurrency < 1:
            raise ConfigError("probe.concurrency must be at least 1")
        if not 0 < self.ready.timeout_seconds <= MAX_READY_TIMEOUT:
            raise ConfigError(
                f"probe.ready.timeout_seconds must be between 1 and {MAX_READY_TIMEOUT}, "
                f"not {self.ready.timeout_seconds:g}"
            )
        self.ready.pattern()  # RE2: rejected patterns are config errors naming the key
        if self.log_group is not None and not self.log_group:
            raise ConfigError("probe.log_group must not be empty")
        if len(self.tags) > MAX_USER_TAGS:
            raise ConfigError(f"probe.tags: at most {MAX_USER_TAGS} tags")
        for key in self.tags:
            if key.lower().startswith(("aws:", "soci-ci:")):
                raise ConfigError(f"probe.tags: {key!r} uses a reserved prefix (aws:, soci-ci:)")

    def validate_for_run(self, *, arms: int) -> None:
        """Everything a probe needs before its first AWS call (exit 2 naming the key)."""
        self.check_values()
        if self.execution_role_arn is None and self.task_definition is None:
            raise ConfigError(
                "probe.execution_role_arn is required: Fargate needs an execution role to pull "
                "from ECR and for the awslogs driver",
                hint="set probe.execution_role_arn (infra/probe.yaml creates one)",
            )
        if self.log_group is None:
            raise ConfigError(
                "probe.log_group is required (the awslogs group the probe reads)",
                hint="set probe.log_group (infra/probe.yaml creates /soci-ci/probe), "
                "and probe.create_log_group: true to let soci-ci create it",
            )
        if not self.network.subnets:
            raise ConfigError(
                "probe.network.subnets is required (awsvpc tasks need at least one subnet)",
                hint="set probe.network.subnets (private subnets need ECR, S3 and Logs "
                "endpoints, see docs/probe.md)",
            )
        if self.task_definition is None:
            self._check_size()
        deadline = self.task_deadline_seconds
        worst = self.runs * arms * deadline
        if worst > self.max_task_seconds:
            raise ConfigError(
                f"probe.runs x arms x task deadline = {self.runs} x {arms} x {deadline} s = "
                f"{worst} task-seconds exceeds probe.max_task_seconds ({self.max_task_seconds})",
                hint="lower probe.runs or probe.ready.timeout_seconds, or raise "
                "probe.max_task_seconds knowingly",
            )

    def _check_size(self) -> None:
        try:
            cpu, memory = int(self.cpu), int(self.memory)
        except ValueError:
            raise ConfigError(
                f"probe.cpu/probe.memory must be numbers (CPU units, MiB), not "
                f"{self.cpu!r}/{self.memory!r}"
            ) from None
        check_size(cpu, memory, max_cpu=self.max_cpu, max_memory=self.max_memory)


def check_size(cpu: int, memory: int, *, max_cpu: int, max_memory: int) -> None:
    """A valid Fargate task size within the caps (``probe.max_cpu``/``probe.max_memory``)."""
    if cpu > max_cpu:
        raise ConfigError(f"probe.cpu {cpu} exceeds probe.max_cpu ({max_cpu})")
    if memory > max_memory:
        raise ConfigError(f"probe.memory {memory} exceeds probe.max_memory ({max_memory})")
    allowed = _FARGATE_SIZES.get(cpu)
    if allowed is None:
        raise ConfigError(
            f"probe.cpu {cpu} is not a Fargate size ({', '.join(map(str, _FARGATE_SIZES))})"
        )
    if memory not in allowed:
        raise ConfigError(
            f"probe.memory {memory} MiB is not valid with probe.cpu {cpu} "
            f"({allowed[0]}-{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]})"
        )


_CONVERTED = frozenset(
    {
        "capacity_provider",
        "architecture",
        "cpu",
        "memory",
        "environment",
        "tags",
        "runs",
        "concurrency",
    }
)


def _value(data: Mapping[str, Any], key: str, default: object) -> Any:
    """The value, or the default when absent or null (0 and "" are kept, then validated)."""
    value = data.get(key)
    return default if value is None else value

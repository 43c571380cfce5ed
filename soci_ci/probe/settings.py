"""Probe settings from the (already schema-validated) ``probe`` section of the config."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from soci_ci.errors import ConfigError

DEFAULT_LOG_GROUP = "/soci-ci/probe"
MAX_RUNS = 100


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
class ReadySettings:
    log_regex: str | None = None  # None: the first log line of the app container
    fallback: ReadyFallback = ReadyFallback.NONE
    timeout_seconds: float = 600.0

    def pattern(self) -> re.Pattern[str] | None:
        return None if self.log_regex is None else re.compile(self.log_regex)


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
    log_group: str = DEFAULT_LOG_GROUP
    environment: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    network: NetworkSettings = field(default_factory=NetworkSettings)
    ready: ReadySettings = field(default_factory=ReadySettings)
    snapshotter_check: bool = True
    baseline_image: str | None = None

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
            settings = cls(
                **{k: v for k, v in data.items() if v is not None and k not in _CONVERTED},
                capacity_provider=CapacityProvider(data.get("capacity_provider") or "FARGATE"),
                architecture=Architecture(data.get("architecture") or "X86_64"),
                runs=int(_value(data, "runs", 5)),
                concurrency=int(_value(data, "concurrency", 4)),
                cpu=str(_value(data, "cpu", "1024")),
                memory=str(_value(data, "memory", "2048")),
                environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
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
                ),
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"invalid probe setting: {exc}") from exc
        settings.validate()
        return settings

    def with_overrides(self, **changes: Any) -> ProbeSettings:
        updated = replace(self, **{k: v for k, v in changes.items() if v is not None})
        updated.validate()
        return updated

    def validate(self) -> None:
        if not 1 <= self.runs <= MAX_RUNS:
            raise ConfigError(f"probe.runs must be between 1 and {MAX_RUNS}, not {self.runs}")
        if self.concurrency < 1:
            raise ConfigError("probe.concurrency must be at least 1")
        if self.ready.timeout_seconds <= 0:
            raise ConfigError("probe.ready.timeout_seconds must be positive")
        if self.ready.log_regex is not None:
            try:
                re.compile(self.ready.log_regex)
            except re.error as exc:
                raise ConfigError(f"probe.ready.log_regex is not a regex: {exc}") from exc
        if not self.log_group:
            raise ConfigError("probe.log_group must not be empty")


_CONVERTED = frozenset(
    {"capacity_provider", "architecture", "cpu", "memory", "environment", "runs", "concurrency"}
)


def _value(data: Mapping[str, Any], key: str, default: object) -> Any:
    """The value, or the default when absent or null (0 and "" are kept, then validated)."""
    value = data.get(key)
    return default if value is None else value

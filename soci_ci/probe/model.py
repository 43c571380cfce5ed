"""Probe results: what one probe run measured, as typed values and as the JSON contract.

The JSON shape is fixed in ``docs/contracts.md`` ("Probe results") and read by the gate and
report packages. Timestamps are ISO 8601 strings in UTC (or null when a phase was never
reached); phases are seconds as floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Phase(StrEnum):
    PROVISIONING = "provisioning"  # createdAt -> pullStartedAt (ENI, scheduling)
    PULL = "pull"  # pullStartedAt -> pullStoppedAt
    START = "start"  # pullStoppedAt -> startedAt
    APP_READY = "app_ready"  # startedAt -> readyAt
    TOTAL = "total"  # createdAt -> readyAt
    CREATED_TO_RUNNING = "created_to_running"  # createdAt -> startedAt
    RUNNING_TO_READY = "running_to_ready"  # startedAt -> readyAt (same span as app_ready)
    # pullStartedAt -> readyAt = total - provisioning: the gate's default metric (ENI
    # provisioning, ~14 s of noise in the recorded sample, is left out).
    PULL_TO_READY = "pull_to_ready"


GATE_PHASE = Phase.PULL_TO_READY


class ArmName(StrEnum):
    NO_SOCI = "no-soci"
    SOCI = "soci"
    BASELINE = "baseline"


class FailureKind(StrEnum):
    CANNOT_PULL = "cannot_pull"
    RESOURCE_INITIALIZATION = "resource_initialization"
    ESSENTIAL_CONTAINER_EXITED = "essential_container_exited"
    NEVER_READY = "never_ready"
    CAPACITY = "capacity"
    SOCI_NOT_ENGAGED = "soci_not_engaged"
    RUN_TASK_FAILED = "run_task_failed"
    QUOTA = "quota"  # vCPU / concurrent task limits of the account
    SPOT_INTERRUPTION = "spot_interruption"
    CHECK_CONTAINER = "check_container"  # soci-ci's check container failed, not the app
    OTHER = "other"

    @property
    def infrastructure(self) -> bool:
        """Not the image's fault: capacity, quotas, Spot, the check container, task setup.

        Retried within ``probe.infra_retries`` and reported apart from image failures."""
        return self in _INFRASTRUCTURE


_INFRASTRUCTURE = frozenset(
    {
        FailureKind.CAPACITY,
        FailureKind.QUOTA,
        FailureKind.SPOT_INTERRUPTION,
        FailureKind.CHECK_CONTAINER,
        FailureKind.RESOURCE_INITIALIZATION,
        FailureKind.RUN_TASK_FAILED,
    }
)


class Snapshotter(StrEnum):
    SOCI = "soci"
    OVERLAYFS = "overlayfs"
    UNKNOWN = "unknown"


class Stamp(StrEnum):
    """Keys of ``RunResult.timestamps`` (the DescribeTasks field names plus ``readyAt``)."""

    CREATED = "createdAt"
    CONNECTIVITY = "connectivityAt"
    PULL_STARTED = "pullStartedAt"
    PULL_STOPPED = "pullStoppedAt"
    STARTED = "startedAt"
    READY = "readyAt"
    STOPPED = "stoppedAt"


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 with milliseconds, UTC ``Z`` suffix; ``None`` stays ``None``."""
    if value is None:
        return None
    text = value.isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"timestamp must be a string or null, not {type(value).__name__}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseStats:
    n: int
    median: float | None
    mean: float | None
    p90: float | None
    min: float | None
    max: float | None
    iqr: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "median": self.median,
            "mean": self.mean,
            "p90": self.p90,
            "min": self.min,
            "max": self.max,
            "iqr": self.iqr,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhaseStats:
        return cls(
            n=int(data["n"]),
            median=_opt_float(data.get("median")),
            mean=_opt_float(data.get("mean")),
            p90=_opt_float(data.get("p90")),
            min=_opt_float(data.get("min")),
            max=_opt_float(data.get("max")),
            iqr=_opt_float(data.get("iqr")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    arm: ArmName
    index: int  # 1-based run number within the arm
    task_arn: str | None
    ok: bool
    failure_kind: FailureKind | None = None
    failure_reason: str | None = None  # the raw AWS reason, unshortened
    snapshotter: Snapshotter = Snapshotter.UNKNOWN
    soci_engaged: bool | None = None  # None: the snapshotter is unknown
    timestamps: Mapping[Stamp, datetime | None] = field(default_factory=dict)
    phases: Mapping[Phase, float] = field(default_factory=dict)
    anomalies: tuple[str, ...] = ()  # ECS timestamps out of order (phases clamped to 0)
    attempt: int = 1  # > 1: earlier attempts hit infrastructure failures and were re-run

    @property
    def image_failure(self) -> bool:
        """A failed run that counts against the image (``allowed_failed_runs``)."""
        kind = self.failure_kind
        return (
            not self.ok
            and kind is not FailureKind.SOCI_NOT_ENGAGED
            and not (kind is not None and kind.infrastructure)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": str(self.arm),
            "index": self.index,
            "task_arn": self.task_arn,
            "ok": self.ok,
            "failure_kind": None if self.failure_kind is None else str(self.failure_kind),
            "failure_reason": self.failure_reason,
            "snapshotter": str(self.snapshotter),
            "soci_engaged": self.soci_engaged,
            "timestamps": {str(s): format_time(self.timestamps.get(s)) for s in Stamp},
            "phases": {str(p): self.phases[p] for p in Phase if p in self.phases},
            "anomalies": list(self.anomalies),
            "attempt": self.attempt,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        stamps = data.get("timestamps") or {}
        phases = data.get("phases") or {}
        kind = data.get("failure_kind")
        engaged = data.get("soci_engaged")
        return cls(
            arm=ArmName(data["arm"]),
            index=int(data["index"]),
            task_arn=data.get("task_arn"),
            ok=bool(data["ok"]),
            failure_kind=None if kind is None else FailureKind(kind),
            failure_reason=data.get("failure_reason"),
            snapshotter=Snapshotter(data.get("snapshotter") or Snapshotter.UNKNOWN),
            soci_engaged=None if engaged is None else bool(engaged),
            timestamps={s: parse_time(stamps.get(str(s))) for s in Stamp},
            phases={Phase(k): float(v) for k, v in phases.items() if v is not None},
            anomalies=tuple(str(a) for a in data.get("anomalies") or ()),
            attempt=int(data.get("attempt") or 1),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmResult:
    name: ArmName
    image: str  # the image reference as run (repository@digest)
    digest: str | None
    runs: tuple[RunResult, ...]
    stats: Mapping[Phase, PhaseStats]

    @property
    def failures(self) -> tuple[RunResult, ...]:
        """Failures that count against the image (not infrastructure, not SOCI engagement)."""
        return tuple(r for r in self.runs if r.image_failure)

    @property
    def infrastructure_failures(self) -> tuple[RunResult, ...]:
        return tuple(
            r for r in self.runs if r.failure_kind is not None and r.failure_kind.infrastructure
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": str(self.name),
            "image": self.image,
            "digest": self.digest,
            "runs": [r.to_json() for r in self.runs],
            "stats": {str(p): self.stats[p].to_json() for p in Phase if p in self.stats},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArmResult:
        return cls(
            name=ArmName(data["name"]),
            image=str(data["image"]),
            digest=data.get("digest"),
            runs=tuple(RunResult.from_json(r) for r in data.get("runs", ())),
            stats={Phase(k): PhaseStats.from_json(v) for k, v in data.get("stats", {}).items()},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    run_id: str
    started_at: datetime
    region: str | None
    cluster: str
    arms: tuple[ArmResult, ...]
    schema: int = SCHEMA_VERSION
    warnings: tuple[str, ...] = ()  # shown in the report (e.g. first-log-line readiness)
    retried: tuple[RunResult, ...] = ()  # infrastructure failures that were re-run
    leftovers: tuple[str, ...] = ()  # what cleanup could not remove (empty: all gone)

    def arm(self, name: ArmName) -> ArmResult | None:
        return next((a for a in self.arms if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "run_id": self.run_id,
            "started_at": format_time(self.started_at),
            "region": self.region,
            "cluster": self.cluster,
            "arms": [a.to_json() for a in self.arms],
            "warnings": list(self.warnings),
            "retried": [r.to_json() for r in self.retried],
            "leftovers": list(self.leftovers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProbeResult:
        schema = int(data.get("schema", 0))
        if schema != SCHEMA_VERSION:
            raise ValueError(f"unsupported probe result schema {schema} (expected 1)")
        started = parse_time(data["started_at"])
        if started is None:
            raise ValueError("started_at is required")
        return cls(
            schema=schema,
            run_id=str(data["run_id"]),
            started_at=started,
            region=data.get("region"),
            cluster=str(data["cluster"]),
            arms=tuple(ArmResult.from_json(a) for a in data.get("arms", ())),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            retried=tuple(RunResult.from_json(r) for r in data.get("retried") or ()),
            leftovers=tuple(str(x) for x in data.get("leftovers") or ()),
        )

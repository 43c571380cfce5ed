"""Typed view of a validated config (defaults already applied by the loader)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soci_ci.probe.model import ArmName, Phase


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteLimit:
    phase: Phase
    stat: str  # median | p50 | mean | p90 | min | max
    arm: ArmName
    max_seconds: float

    @property
    def stat_key(self) -> str:
        """The `PhaseStats` attribute (p50 is the median)."""
        return "median" if self.stat == "p50" else self.stat


@dataclass(frozen=True, slots=True, kw_only=True)
class Regression:
    max_percent: float | None = 10.0
    max_seconds: float | None = None
    confidence: float = 0.95


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    absolute: tuple[AbsoluteLimit, ...] = ()
    regression: Regression = Regression()
    min_soci_benefit_percent: float | None = None
    require_soci_engaged: bool = True
    allowed_failed_runs: int = 0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Thresholds:
        reg = data.get("regression") or {}
        return cls(
            absolute=tuple(
                AbsoluteLimit(
                    phase=Phase(a.get("phase", "total")),
                    stat=str(a.get("stat", "p50")),
                    arm=ArmName(a.get("arm", "soci")),
                    max_seconds=float(a["max_seconds"]),
                )
                for a in data.get("absolute") or ()
            ),
            regression=Regression(
                max_percent=_opt(reg.get("max_percent", 10.0)),
                max_seconds=_opt(reg.get("max_seconds")),
                confidence=float(reg.get("confidence", 0.95)),
            ),
            min_soci_benefit_percent=_opt(data.get("min_soci_benefit_percent")),
            require_soci_engaged=bool(data.get("require_soci_engaged", True)),
            allowed_failed_runs=int(data.get("allowed_failed_runs", 0)),
        )


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole file; each section is a plain validated mapping with defaults applied.

    ``has_thresholds`` tells whether the file had a ``thresholds`` section at all.
    """

    data: Mapping[str, Any]
    has_thresholds: bool = False
    source: str = "<defaults>"

    def _section(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, Mapping) else {}

    @property
    def image(self) -> Mapping[str, Any]:
        return self._section("image")

    @property
    def soci(self) -> Mapping[str, Any]:
        return self._section("soci")

    @property
    def probe(self) -> Mapping[str, Any]:
        return self._section("probe")

    @property
    def probe_mapping(self) -> Mapping[str, Any]:
        return self.probe

    @property
    def baseline(self) -> Mapping[str, Any]:
        return self._section("baseline")

    @property
    def report(self) -> Mapping[str, Any]:
        return self._section("report")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.from_mapping(self._section("thresholds"))

"""The config as types: one frozen dataclass per section, parsed once from the validated file.

Defaults have one source, the schema (``schema.json``): the loader fills them in before the
sections are built, so these classes carry no defaults of their own (a test checks that every
field is a schema key and the other way round). Values are only converted here, never checked
again: the schema already did that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from soci_ci.probe.model import ArmName, Phase
from soci_ci.probe.settings import ProbeSettings
from soci_ci.soci.index_manifest import IndexFormat


class Optimization(StrEnum):
    XATTR = "xattr"  # mark layers without extended attributes (com.amazon.soci.disable-xattrs)


class Builder(StrEnum):
    AUTO = "auto"
    BUILDX = "buildx"
    BUILDKIT = "buildkit"
    SDK = "sdk"


class BaselineSource(StrEnum):
    AUTO = "auto"
    ARM = "arm"
    STORE = "store"
    NONE = "none"


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
                max_percent=_opt_float(reg.get("max_percent", 10.0)),
                max_seconds=_opt_float(reg.get("max_seconds")),
                confidence=float(reg.get("confidence", 0.95)),
            ),
            min_soci_benefit_percent=_opt_float(data.get("min_soci_benefit_percent")),
            require_soci_engaged=bool(data.get("require_soci_engaged", True)),
            allowed_failed_runs=int(data.get("allowed_failed_runs", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    repository: str | None
    context: str
    dockerfile: str
    build_args: Mapping[str, str]
    target: str | None
    platforms: tuple[str, ...]
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    network: str | None
    pull: bool
    builder: Builder


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyConfig:
    enabled: bool
    sample: int  # 0: every file
    seed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SociConfig:
    enabled: bool
    format: IndexFormat
    span_size: int
    min_layer_size: int
    platforms: tuple[str, ...]
    tag: str | None
    overwrite_tag: bool
    build_tool_identifier: str | None
    optimizations: tuple[Optimization, ...]
    workers: int | None
    force: bool
    verify: VerifyConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    enabled: bool
    poll_seconds: float
    settings: ProbeSettings  # every other key of the section


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineConfig:
    source: BaselineSource
    store: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportConfig:
    comment: bool
    summary: bool
    junit: str | None
    chart: bool


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _pairs(value: Any) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in (value or {}).items()})


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def image_config(d: Mapping[str, Any]) -> ImageConfig:
    return ImageConfig(
        repository=d["repository"],
        context=str(d["context"]),
        dockerfile=str(d["dockerfile"]),
        build_args=_pairs(d["build_args"]),
        target=d["target"],
        platforms=_strings(d["platforms"]),
        tags=_strings(d["tags"]),
        labels=_pairs(d["labels"]),
        network=d["network"],
        pull=bool(d["pull"]),
        builder=Builder(d["builder"]),
    )


def soci_config(d: Mapping[str, Any]) -> SociConfig:
    verify = d["verify"]
    return SociConfig(
        enabled=bool(d["enabled"]),
        format=IndexFormat(d["format"]),
        span_size=int(d["span_size"]),
        min_layer_size=int(d["min_layer_size"]),
        platforms=_strings(d["platforms"]),
        tag=d["tag"],
        overwrite_tag=bool(d["overwrite_tag"]),
        build_tool_identifier=d["build_tool_identifier"],
        optimizations=tuple(Optimization(o) for o in d["optimizations"]),
        workers=None if d["workers"] is None else int(d["workers"]),
        force=bool(d["force"]),
        verify=VerifyConfig(
            enabled=bool(verify["enabled"]), sample=int(verify["sample"]), seed=int(verify["seed"])
        ),
    )


def probe_config(d: Mapping[str, Any]) -> ProbeConfig:
    rest = {k: v for k, v in d.items() if k not in ("enabled", "poll_seconds")}
    return ProbeConfig(
        enabled=bool(d["enabled"]),
        poll_seconds=float(d["poll_seconds"]),
        settings=ProbeSettings.from_mapping(rest),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole file, validated and completed with the schema's defaults, as typed sections.

    Built by the loader from ``data`` (the completed mapping, kept for ``--explain``);
    ``has_thresholds`` tells whether the file had a ``thresholds`` section at all.
    """

    data: Mapping[str, Any]
    has_thresholds: bool = False
    source: str = "<defaults>"
    image: ImageConfig = field(init=False)
    soci: SociConfig = field(init=False)
    probe: ProbeConfig = field(init=False)
    thresholds: Thresholds = field(init=False)
    baseline: BaselineConfig = field(init=False)
    report: ReportConfig = field(init=False)

    def __post_init__(self) -> None:
        data = self.data
        base, report = _section(data, "baseline"), _section(data, "report")
        sections: dict[str, object] = {
            "image": image_config(_section(data, "image")),
            "soci": soci_config(_section(data, "soci")),
            "probe": probe_config(_section(data, "probe")),
            "thresholds": Thresholds.from_mapping(_section(data, "thresholds")),
            "baseline": BaselineConfig(source=BaselineSource(base["source"]), store=base["store"]),
            "report": ReportConfig(
                comment=bool(report["comment"]),
                summary=bool(report["summary"]),
                junit=report["junit"],
                chart=bool(report["chart"]),
            ),
        }
        for name, value in sections.items():
            object.__setattr__(self, name, value)

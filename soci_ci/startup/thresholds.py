"""Exact thresholds on the startup figures (pure): no statistics, the numbers are deterministic.

`thresholds.startup` in the config is a list of limits, each on one total of
`soci-ci startup --output-json` (`fetch_bytes`, `fetch_requests`, `fetch_percent`,
`image_bytes`, `startup_files`, `startup_file_bytes`): `max` (absolute), `max_increase` (over
the base branch, in the metric's unit) and `max_increase_percent` (over the base branch). A
relative limit without base-branch figures is not evaluated (reported as such, not failed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from soci_ci.errors import ConfigError


class Metric(StrEnum):
    IMAGE_BYTES = "image_bytes"
    FETCH_BYTES = "fetch_bytes"
    FETCH_REQUESTS = "fetch_requests"
    FETCH_PERCENT = "fetch_percent"
    STARTUP_FILES = "startup_files"
    STARTUP_FILE_BYTES = "startup_file_bytes"


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - not a password
    FAIL = "fail"
    NOT_EVALUATED = "not-evaluated"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupLimit:
    metric: Metric
    max: float | None = None
    max_increase: float | None = None
    max_increase_percent: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitCheck:
    name: str  # e.g. "startup.fetch_bytes <= 50000000"
    outcome: Outcome
    message: str


def parse_limits(items: Sequence[Mapping[str, Any]] | None) -> tuple[StartupLimit, ...]:
    limits = []
    for i, item in enumerate(items or ()):
        try:
            metric = Metric(item["metric"])
        except (KeyError, ValueError):
            raise ConfigError(
                f"thresholds.startup[{i}].metric: one of {', '.join(m.value for m in Metric)}"
            ) from None
        limit = StartupLimit(
            metric=metric,
            max=_number(item.get("max")),
            max_increase=_number(item.get("max_increase")),
            max_increase_percent=_number(item.get("max_increase_percent")),
        )
        if limit.max is None and limit.max_increase is None and limit.max_increase_percent is None:
            raise ConfigError(
                f"thresholds.startup[{i}]: give max, max_increase or max_increase_percent"
            )
        limits.append(limit)
    return tuple(limits)


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _fmt(value: float) -> str:
    return f"{value:.2f}" if value != int(value) else f"{int(value)}"


def check_limits(
    totals: Mapping[str, float],
    limits: Sequence[StartupLimit],
    baseline: Mapping[str, float] | None,
    *,
    baseline_label: str = "the base branch",
) -> list[LimitCheck]:
    checks = []
    for limit in limits:
        key = limit.metric.value
        value = float(totals[key])
        if limit.max is not None:
            ok = value <= limit.max
            checks.append(
                LimitCheck(
                    name=f"startup.{key} <= {_fmt(limit.max)}",
                    outcome=Outcome.PASS if ok else Outcome.FAIL,
                    message=f"{key} is {_fmt(value)} (limit {_fmt(limit.max)})",
                )
            )
        for kind, allowed in (
            ("max_increase", limit.max_increase),
            ("max_increase_percent", limit.max_increase_percent),
        ):
            if allowed is None:
                continue
            percent = kind == "max_increase_percent"
            name = f"startup.{key} +{_fmt(allowed)}{' %' if percent else ''} vs base"
            base = None if baseline is None else baseline.get(key)
            if base is None:
                checks.append(
                    LimitCheck(
                        name=name,
                        outcome=Outcome.NOT_EVALUATED,
                        message=f"no {key} recorded for {baseline_label}",
                    )
                )
                continue
            base = float(base)
            increase = value - base
            if percent:
                grew = 100.0 * increase / base if base else (0.0 if increase <= 0 else float("inf"))
                ok = grew <= allowed
                text = f"{grew:+.1f} %" if grew != float("inf") else "from 0"
            else:
                ok = increase <= allowed
                text = f"{increase:+g}"
            checks.append(
                LimitCheck(
                    name=name,
                    outcome=Outcome.PASS if ok else Outcome.FAIL,
                    message=f"{key} {_fmt(value)} vs {_fmt(base)} on {baseline_label} ({text}; "
                    f"allowed +{_fmt(allowed)}{' %' if percent else ''})",
                )
            )
    return checks


def totals_of(report_json: Mapping[str, Any]) -> dict[str, float]:
    """The gated metrics from a `soci-ci startup --output-json` document."""
    totals = report_json.get("totals")
    if not isinstance(totals, Mapping):
        return {}
    return {
        m.value: float(totals[m.value])
        for m in Metric
        if isinstance(totals.get(m.value), int | float) and not isinstance(totals[m.value], bool)
    }

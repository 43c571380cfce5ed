"""The gate step, and the baseline a default-branch run leaves for later PRs.

`run_gate` judges a probe result (`soci_ci.app.probe_step.run_probe`) against the
thresholds; `store_baseline` records a branch run's result. Typed options in, typed results
out; the commands and the pipeline print and report them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soci_ci.app.options import GateOptions
from soci_ci.config.model import BaselineSource
from soci_ci.errors import ConfigError, InputError
from soci_ci.gate import baseline as bl
from soci_ci.gate.thresholds import evaluate
from soci_ci.gate.verdict import GateOutcome
from soci_ci.probe.model import ProbeResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    outcome: GateOutcome
    result: ProbeResult | None
    baseline: bl.Baseline | None
    options: GateOptions


def read_json(path: Path, what: str) -> Any:
    """A JSON file the user names (a baseline record, a probe result)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from exc


def choose_baseline(options: GateOptions, result: ProbeResult | None) -> bl.Baseline | None:
    """The baseline a regression is measured against (``baseline.source``), or None."""
    choice = options.baseline
    if choice.source is BaselineSource.NONE:
        return None
    if choice.record_file is not None:
        return bl.from_record(read_json(choice.record_file, "baseline"))
    if result is None:
        return None
    if choice.source in (BaselineSource.AUTO, BaselineSource.ARM):
        found = bl.from_arm(result)
        if found is not None or choice.source is BaselineSource.ARM:
            return found
    if choice.store and choice.key is not None:
        record = bl.open_store(choice.store).read(choice.key)
        return None if record is None else bl.from_record(record, choice.key)
    return None


def run_gate(options: GateOptions, result: ProbeResult | None) -> GateResult:
    """Judge ``result`` (None: nothing measured, a neutral verdict) against the thresholds."""
    neutral = options.neutral_reason
    if result is None and neutral is None:
        neutral = "no probe results"
    if not options.has_thresholds and neutral is None:
        raise ConfigError(f"{options.config_name} has no thresholds section; nothing to gate")
    base = choose_baseline(options, result)
    outcome = evaluate(result, options.thresholds, base, neutral_reason=neutral)
    return GateResult(outcome=outcome, result=result, baseline=base, options=options)


def store_baseline(store: str, key: bl.StoreKey, result: ProbeResult, *, commit: str) -> None:
    """Record a branch run's result where later pull requests' gates look for it."""
    record = bl.make_record(key, result, commit=commit, recorded_at=datetime.now(UTC))
    bl.open_store(store).write(key, record)

"""The probe and gate steps, and the baseline a default-branch run leaves for later PRs.

`run_probe` times Fargate cold starts (boto3; endpoints are botocore's own
``AWS_ENDPOINT_URL_<SERVICE>`` variables); `run_gate` judges a probe result against the
thresholds; `store_baseline` records a branch run's result. Typed options in, typed results
out; the commands and the pipeline print and report them.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soci_ci.app.options import GateOptions, ProbeImages, ProbeOptions
from soci_ci.config.model import BaselineSource
from soci_ci.errors import ConfigError, InputError, ProbeError
from soci_ci.gate import baseline as bl
from soci_ci.gate.thresholds import evaluate
from soci_ci.gate.verdict import GateOutcome
from soci_ci.probe.model import ProbeResult
from soci_ci.probe.runner import Arm

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    outcome: GateOutcome
    result: ProbeResult | None
    baseline: bl.Baseline | None
    options: GateOptions


def probe_arms(images: ProbeImages) -> list[Arm]:
    from soci_ci.probe.arms import from_refs  # noqa: PLC0415

    return from_refs(no_soci=images.no_soci, soci=images.soci, baseline=images.baseline)


def run_probe(
    options: ProbeOptions, *, progress: Callable[[str], None] = lambda line: log.info("%s", line)
) -> ProbeResult:
    """Run both arms (three with a baseline image) on Fargate and collect the timings."""
    import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import
    from botocore.config import Config  # noqa: PLC0415

    from soci_ci.probe.ecs import EcsApi, Retrier  # noqa: PLC0415
    from soci_ci.probe.logs import LogsApi  # noqa: PLC0415
    from soci_ci.probe.runner import Probe, signal_guard  # noqa: PLC0415
    from soci_ci.probe.task_definition import DEFAULT_SIDECAR_IMAGE  # noqa: PLC0415

    settings = options.settings
    arms = probe_arms(options.images)
    session = boto3.session.Session(region_name=options.region or settings.region)
    region = session.region_name
    if not region:
        raise ProbeError(
            "no AWS region", hint="set probe.region, --region or AWS_REGION/AWS_DEFAULT_REGION"
        )
    botocore_config = Config(retries={"mode": "adaptive", "max_attempts": 5})
    retrier = Retrier(sleep=time.sleep)
    run_id = f"soci-ci-probe-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    probe = Probe(
        ecs=EcsApi(
            session.client("ecs", config=botocore_config), cluster=settings.cluster, retrier=retrier
        ),
        logs=LogsApi(session.client("logs", config=botocore_config), retrier=retrier),
        settings=settings,
        arms=arms,
        region=region,
        run_id=run_id,
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
        progress=progress,
        poll_seconds=options.poll_seconds,
        sidecar_image=options.sidecar_image or DEFAULT_SIDECAR_IMAGE,
    )
    progress(f"probe {run_id}: {len(arms)} arm(s) x {settings.runs} run(s) in {region}")
    with signal_guard():
        return probe.run()


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

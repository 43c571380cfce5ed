"""The startup step of `soci-ci run`: measure, compare with the base branch, check thresholds.

Branch runs (not pull requests) store their totals in `baseline.store` (the probe's store,
under the image name + `#startup`); pull requests read their base branch's record. The
thresholds are exact (the figures are deterministic): any failed limit fails the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soci_ci.errors import SociCiError
from soci_ci.startup.markdown import render_startup
from soci_ci.startup.measure import StartupOptions, measure
from soci_ci.startup.model import StartupReport
from soci_ci.startup.thresholds import LimitCheck, Outcome, StartupLimit, check_limits, totals_of

log = logging.getLogger(__name__)

RECORD_SCHEMA = 1
RECORD_KIND = "startup"


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupStep:
    options: StartupOptions
    limits: tuple[StartupLimit, ...] = ()
    store: str | None = None  # baseline.store
    repository: str | None = None  # owner/name
    branch: str | None = None  # this run's branch (stored when not a PR)
    base_branch: str | None = None  # a PR's base branch (read)
    image_name: str | None = None  # image.repository: the record's key
    commit: str | None = None
    pull_request: bool = False
    output_json: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupStepResult:
    report: Mapping[str, Any]
    checks: tuple[LimitCheck, ...]
    detail: str
    baseline: Mapping[str, float] | None = None
    baseline_label: str = "base branch"
    stored: str = ""
    # The files read before ready, by the digest of the layer each came from (verify in `run`).
    working_set: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(c.outcome is Outcome.FAIL for c in self.checks)

    def markdown(self, measured: Mapping[str, Mapping[str, float]] | None = None) -> str:
        """The comment section; `measured`: the probe's medians by arm, when it ran."""
        return render_startup(
            self.report,
            baseline=self.baseline,
            baseline_label=self.baseline_label,
            checks=self.checks,
            measured=measured or None,
        )


def _key(step: StartupStep, branch: str) -> Any:
    from soci_ci.gate.baseline import StoreKey  # noqa: PLC0415

    assert step.repository and step.image_name
    return StoreKey(repository=step.repository, branch=branch, image=f"{step.image_name}#startup")


def read_baseline(step: StartupStep) -> tuple[dict[str, float] | None, str]:
    """The base branch's stored totals and how to name them (None: nothing stored)."""
    if not (step.store and step.repository and step.image_name and step.base_branch):
        return None, "base branch"
    from soci_ci.gate.baseline import open_store  # noqa: PLC0415

    try:
        record = open_store(step.store).read(_key(step, step.base_branch))
    except SociCiError as exc:
        log.warning("startup baseline not read: %s", exc)
        return None, step.base_branch
    if not record or record.get("kind") != RECORD_KIND or record.get("schema") != RECORD_SCHEMA:
        return None, step.base_branch
    label = f"{step.base_branch}@{str(record.get('commit') or '?')[:12]}"
    totals = record.get("totals")
    return (totals_of({"totals": totals}) if isinstance(totals, Mapping) else None), label


def store_totals(step: StartupStep, report: Mapping[str, Any]) -> str:
    if step.pull_request or not (step.store and step.repository and step.image_name):
        return ""
    if not step.branch:
        return "startup figures not stored: branch unknown"
    from soci_ci.gate.baseline import open_store  # noqa: PLC0415

    record = {
        "schema": RECORD_SCHEMA,
        "kind": RECORD_KIND,
        "repository": step.repository,
        "branch": step.branch,
        "image": step.image_name,
        "commit": step.commit or "unknown",
        "recorded_at": datetime.now(UTC).isoformat(),
        "totals": totals_of(report),
    }
    try:
        open_store(step.store).write(_key(step, step.branch), record)
    except SociCiError as exc:
        log.warning("startup figures not stored: %s", exc)
        return f"startup figures not stored: {exc}"
    return f"startup figures stored for {step.branch}"


def working_set_of(report: StartupReport) -> dict[str, tuple[str, ...]]:
    """The files read before ready, in access order, by layer digest."""
    files: dict[str, list[str]] = {}
    for f in report.result.files:
        files.setdefault(f.layer, []).append(f.path)
    return {layer: tuple(paths) for layer, paths in files.items()}


def run_startup_step(step: StartupStep) -> StartupStepResult:
    measured = measure(step.options)
    report = measured.report.to_json()
    if step.output_json is not None:
        step.output_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    baseline, label = read_baseline(step) if step.pull_request else (None, "base branch")
    checks = tuple(check_limits(totals_of(report), step.limits, baseline, baseline_label=label))
    stored = store_totals(step, report)
    t = measured.report.result.totals
    failed = [c.name for c in checks if c.outcome is Outcome.FAIL]
    detail = (
        f"{t.startup_files} file(s) read before ready; a lazy start fetches "
        f"{100 * t.fetch_share:.1f} % of the image in {t.fetch_requests} request(s)"
    )
    if failed:
        detail += f"; threshold(s) failed: {', '.join(failed)}"
    if stored:
        detail += f"; {stored}"
    return StartupStepResult(
        report=report,
        working_set=working_set_of(measured.report),
        checks=checks,
        detail=detail,
        baseline=baseline,
        baseline_label=label,
        stored=stored,
    )


def engine_reachable() -> bool:
    """Whether a Docker engine answers (the default of `startup.enabled`)."""
    try:
        import docker  # noqa: PLC0415

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:  # any failure means: no engine to record with
        return False
    return True


def failed_names(checks: Sequence[LimitCheck]) -> list[str]:
    return [c.name for c in checks if c.outcome is Outcome.FAIL]

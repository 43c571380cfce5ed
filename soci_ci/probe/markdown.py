"""The probe's Markdown (pure): the published table plus per-phase statistics."""

from __future__ import annotations

from soci_ci.probe.model import (
    ArmName,
    ArmResult,
    FailureKind,
    Phase,
    PhaseStats,
    ProbeResult,
    RunResult,
)

_SOCI_LABEL = {ArmName.NO_SOCI: "no", ArmName.SOCI: "yes", ArmName.BASELINE: "baseline"}
_COLUMNS = (Phase.CREATED_TO_RUNNING, Phase.RUNNING_TO_READY, Phase.PULL_TO_READY, Phase.TOTAL)
_PHASE_LABEL = {
    Phase.PROVISIONING: "provisioning (created → pull started)",
    Phase.PULL: "pull",
    Phase.START: "start (pull stopped → running)",
    Phase.APP_READY: "app ready (running → ready)",
    Phase.TOTAL: "total (created → ready)",
    Phase.CREATED_TO_RUNNING: "created → running",
    Phase.RUNNING_TO_READY: "running → ready",
    Phase.PULL_TO_READY: "pull → ready (gated: total minus provisioning)",
}
_DETAIL = (
    Phase.PROVISIONING,
    Phase.PULL,
    Phase.START,
    Phase.APP_READY,
    Phase.PULL_TO_READY,
    Phase.TOTAL,
)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _cell(stats: PhaseStats | None) -> str:
    if stats is None or stats.n == 0:
        return "–"
    return f"{_num(stats.median)} ({_num(stats.mean)} / {_num(stats.p90)})"


def _short(image: str) -> str:
    """``name@sha256:<12 hex>``: the repository's last path part and a short digest."""
    repository, _, digest = image.partition("@")
    name = repository.rsplit("/", 1)[-1]
    return f"{name}@{digest[:19]}" if digest else name


def _engaged(arm: ArmResult) -> str:
    counted = [r for r in arm.runs if r.soci_engaged is not None]
    if not counted:
        return "unknown"
    lazy = sum(1 for r in counted if r.soci_engaged)
    return f"{lazy}/{len(counted)} soci"


def render(result: ProbeResult) -> str:
    lines = [f"**Warning:** {w}" for w in result.warnings]
    lines += [f"**Left behind:** {x}" for x in result.leftovers]
    if lines:
        lines.append("")
    lines += [
        "| image | SOCI | runs ok | created → running (s) | running → ready (s) "
        "| pull → ready (s) | total (s) | snapshotter |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in result.arms:
        ok = sum(1 for r in arm.runs if r.ok)
        cells = " | ".join(_cell(arm.stats.get(p)) for p in _COLUMNS)
        lines.append(
            f"| `{_short(arm.image)}` | {_SOCI_LABEL[arm.name]} | {ok}/{len(arm.runs)} | {cells} "
            f"| {_engaged(arm)} |"
        )
    lines += [
        "",
        "Cells: median (mean / p90) in seconds over successful runs; "
        "p90 and IQR use linear interpolation (type 7).",
        "",
        "| arm | phase | n | median | mean | p90 | min | max | IQR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in result.arms:
        for phase in _DETAIL:
            s = arm.stats.get(phase)
            if s is None:
                continue
            values = (s.median, s.mean, s.p90, s.min, s.max, s.iqr)
            lines.append(
                f"| {arm.name} | {_PHASE_LABEL[phase]} | {s.n} | "
                + " | ".join(_num(v) for v in values)
                + " |"
            )
    lines += _findings(result)
    failures = [(arm.name, r) for arm in result.arms for r in arm.failures]
    if failures:
        lines += ["", "Failed runs:", ""]
        lines += [_failure_line(name, run) for name, run in failures]
    infra = [(arm.name, r) for arm in result.arms for r in arm.infrastructure_failures]
    infra += [(r.arm, r) for r in result.retried]
    if infra:
        lines += ["", "Infrastructure failures (re-run within the budget, not the image's):", ""]
        lines += [_failure_line(name, run) for name, run in infra]
    odd = [(arm.name, r) for arm in result.arms for r in arm.runs if r.anomalies]
    if odd:
        lines += ["", "ECS timestamps out of order (phases clamped to 0):", ""]
        lines += [f"- {n} run {r.index}: {'; '.join(r.anomalies)}" for n, r in odd]
    return "\n".join(lines) + "\n"


def _failure_line(name: ArmName, run: RunResult) -> str:
    reason = " ".join((run.failure_reason or "").split())
    attempt = f" (attempt {run.attempt})" if run.attempt > 1 else ""
    return f"- {name} run {run.index}{attempt}: {run.failure_kind}: {reason}"


def _findings(result: ProbeResult) -> list[str]:
    """SOCI-only failures (a finding in itself) and runs where SOCI was not engaged."""
    soci, plain = result.arm(ArmName.SOCI), result.arm(ArmName.NO_SOCI)
    out: list[str] = []
    if soci is not None and plain is not None:
        broke = list(soci.failures)
        if len(broke) > len(plain.failures):
            out.append(
                f"**Finding:** {len(broke)} run(s) failed with SOCI against "
                f"{len(plain.failures)} without: the image may not work when lazily loaded."
            )
    if soci is not None:
        idle = [r for r in soci.runs if r.failure_kind is FailureKind.SOCI_NOT_ENGAGED]
        if idle:
            out.append(
                f"**SOCI not engaged** in {len(idle)} run(s): Fargate used overlayfs; "
                "those runs are not counted."
            )
    return ["", *out] if out else []

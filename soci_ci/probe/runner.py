"""The probe orchestration: register revisions, run arms interleaved, poll, collect, clean up.

Time comes from an injected ``clock`` (wall clock, aware datetimes) and ``sleep``, so tests
drive a fake ECS through minutes of Fargate lifecycle in milliseconds. Cleanup always runs
in ``finally``: tasks stopped (including a sweep by ``startedBy`` for RunTask answers that
were lost), probe revisions deregistered and deleted. ``signal_guard`` turns SIGTERM/SIGINT
into ``Interrupted`` so that ``finally`` runs on CI cancellation too.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

from soci_ci.errors import AwsError, Interrupted
from soci_ci.probe import schedule, stats, task_definition, timeline
from soci_ci.probe.ecs import EcsApi
from soci_ci.probe.logs import LogsApi
from soci_ci.probe.model import (
    ArmName,
    ArmResult,
    FailureKind,
    Phase,
    ProbeResult,
    RunResult,
    Snapshotter,
)
from soci_ci.probe.settings import ProbeSettings, ReadyFallback

log = logging.getLogger(__name__)

STOP_REASON = "soci-ci probe finished"
SNAPSHOTTER_GRACE_SECONDS = 60.0  # how long to wait for the sidecar's log after ready
PROGRESS_EVERY_SECONDS = 15.0
FALLBACK_GRACE_SECONDS = 30.0  # after startedAt, before a ready fallback replaces the log line


@dataclass(frozen=True, slots=True, kw_only=True)
class Arm:
    name: ArmName
    image: str  # repository@sha256:...

    @property
    def digest(self) -> str | None:
        return self.image.rsplit("@", 1)[1] if "@" in self.image else None


@dataclass(slots=True, kw_only=True)
class _Pending:
    slot: schedule.Slot
    arn: str
    launched: datetime
    ready_at: datetime | None = None
    healthy_at: datetime | None = None
    last_status: str = "PROVISIONING"
    last_line: float = -PROGRESS_EVERY_SECONDS
    task: dict[str, Any] = field(default_factory=dict)


@contextmanager
def signal_guard() -> Iterator[None]:
    """SIGTERM/SIGINT raise ``Interrupted`` (once); the old handlers come back afterwards."""

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}")

    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for sig in old:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Cleanup must not be cut short by a second Ctrl-C (main thread only)."""
    try:
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: signals cannot be handled here anyway
        yield
        return
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


class Probe:
    def __init__(
        self,
        *,
        ecs: EcsApi,
        logs: LogsApi,
        settings: ProbeSettings,
        arms: Sequence[Arm],
        region: str,
        run_id: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        progress: Callable[[str], None] = lambda line: None,
        poll_seconds: float = 3.0,
        sidecar_image: str = task_definition.DEFAULT_SIDECAR_IMAGE,
    ) -> None:
        self.ecs = ecs
        self.logs = logs
        self.settings = settings
        self.arms = list(arms)
        self.region = region
        self.run_id = run_id
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        self.poll_seconds = poll_seconds
        self.sidecar_image = sidecar_image
        self.revisions: dict[ArmName, str] = {}
        self.launched: list[str] = []
        self.stopped: set[str] = set()
        self._total = 0

    # -- the run --------------------------------------------------------------------------
    def run(self) -> ProbeResult:
        started_at = self.clock()
        results: list[RunResult] = []
        try:
            self._register()
            results = self._run_all()
        except BaseException:
            with _signals_ignored():
                self.cleanup(raise_errors=False)
            raise
        with _signals_ignored():
            self.cleanup(raise_errors=True)
        return self._result(started_at, results)

    def _register(self) -> None:
        base = None
        if self.settings.task_definition:
            base = self.ecs.describe_task_definition(self.settings.task_definition)
        for arm in self.arms:
            spec = task_definition.build(
                self.settings,
                arm=arm.name,
                image=arm.image,
                region=self.region,
                run_id=self.run_id,
                base=base,
                sidecar_image=self.sidecar_image,
            )
            self.revisions[arm.name] = self.ecs.register(spec)
            log.info("registered %s", self.revisions[arm.name])

    def _run_all(self) -> list[RunResult]:
        queue = schedule.interleave([a.name for a in self.arms], self.settings.runs)
        total = self._total = len(queue)
        results: list[RunResult] = []
        pending: list[_Pending] = []
        while queue or pending:
            free = self.settings.concurrency - len(pending)
            if free > 0 and queue:
                batch, queue = queue[:free], queue[free:]
                for launch in schedule.launches(batch):
                    self._launch(launch, pending, results)
            if pending:
                finished = self._poll(pending, total)
                for item, result in finished:
                    pending.remove(item)
                    results.append(result)
                if pending:
                    self.sleep(self.poll_seconds)
        return sorted(results, key=lambda r: (r.index, r.arm))

    def _launch(
        self, launch: schedule.Launch, pending: list[_Pending], results: list[RunResult]
    ) -> None:
        first = launch.slots[0]
        tasks, failures = self.ecs.run_task(
            task_definition=self.revisions[launch.arm],
            count=launch.count,
            settings=self.settings,
            started_by=self.run_id,
            client_token=f"{self.run_id}-{first.ordinal}"[:64],
        )
        now = self.clock()
        for slot, task in zip(launch.slots, tasks, strict=False):
            self.launched.append(str(task["taskArn"]))
            pending.append(_Pending(slot=slot, arn=str(task["taskArn"]), launched=now, task=task))
        for i, slot in enumerate(launch.slots[len(tasks) :]):
            failure = timeline.classify_run_task_failure(failures[i] if i < len(failures) else {})
            self.progress(
                f"run {slot.ordinal}/{self._total} {slot.arm} RunTask failed: {failure.reason}"
            )
            results.append(
                timeline.build_run(
                    arm=slot.arm,
                    index=slot.index,
                    task=None,
                    ready_at=None,
                    snapshotter=Snapshotter.UNKNOWN,
                    failure=failure,
                )
            )

    def _poll(self, pending: list[_Pending], total: int) -> list[tuple[_Pending, RunResult]]:
        described = {t["taskArn"]: t for t in self.ecs.describe_tasks([p.arn for p in pending])}
        now = self.clock()
        finished: list[tuple[_Pending, RunResult]] = []
        for item in pending:
            task = described.get(item.arn, item.task)
            item.task = task
            status = str(task.get("lastStatus") or item.last_status)
            elapsed = (now - item.launched).total_seconds()
            if status != item.last_status or elapsed - item.last_line >= PROGRESS_EVERY_SECONDS:
                self.progress(
                    f"run {item.slot.ordinal}/{total} {item.slot.arm} {status} {elapsed:.1f}s"
                )
                item.last_status, item.last_line = status, elapsed
            result = self._check(item, task, now, elapsed)
            if result is not None:
                self._stop(item.arn)
                self.progress(f"run {item.slot.ordinal}/{total} {item.slot.arm} {_summary(result)}")
                finished.append((item, result))
        return finished

    def _check(
        self, item: _Pending, task: dict[str, Any], now: datetime, elapsed: float
    ) -> RunResult | None:
        """The run's result once it is decided, else None (keep polling)."""
        ready = self.settings.ready
        if item.ready_at is None:
            item.ready_at = self._ready_at(item, task, now)
        if item.ready_at is None:
            if task.get("lastStatus") == "STOPPED":
                failure = timeline.classify_stopped(
                    task, container_name=self.settings.container_name
                )
                return self._result_of(item, task, failure, self._snapshotter_once(item))
            if elapsed >= ready.timeout_seconds:
                failure = timeline.Failure(
                    kind=FailureKind.NEVER_READY,
                    reason=f"not ready within {ready.timeout_seconds:g} s "
                    f"(last status {task.get('lastStatus')})",
                )
                return self._result_of(item, task, failure, self._snapshotter_once(item))
            return None
        if not self.settings.snapshotter_check:
            return self._result_of(item, task, None, Snapshotter.UNKNOWN)
        stream = task_definition.log_stream(self.run_id, task_definition.SIDECAR_NAME, item.arn)
        found = self.logs.snapshotter(self.settings.log_group, stream, self.settings.container_name)
        waited = (now - item.ready_at).total_seconds()
        if found is Snapshotter.UNKNOWN and waited < SNAPSHOTTER_GRACE_SECONDS:
            return None
        return self._result_of(item, task, None, found)

    def _snapshotter_once(self, item: _Pending) -> Snapshotter:
        """For a failed run: whatever the sidecar managed to say (no waiting)."""
        if not self.settings.snapshotter_check:
            return Snapshotter.UNKNOWN
        stream = task_definition.log_stream(self.run_id, task_definition.SIDECAR_NAME, item.arn)
        return self.logs.snapshotter(self.settings.log_group, stream, self.settings.container_name)

    def _ready_at(self, item: _Pending, task: dict[str, Any], now: datetime) -> datetime | None:
        started = timeline.to_datetime(task.get("startedAt"))
        if started is None:
            return None
        ready = self.settings.ready
        stream = task_definition.log_stream(self.run_id, self.settings.container_name, item.arn)
        millis = self.logs.first_match(self.settings.log_group, stream, ready.pattern())
        if millis is not None:
            return timeline.from_millis(millis)
        if ready.fallback is ReadyFallback.NONE:
            return None
        if task.get("healthStatus") == "HEALTHY" and item.healthy_at is None:
            item.healthy_at = now  # resolution: the poll interval
        if (now - started).total_seconds() < FALLBACK_GRACE_SECONDS:
            return None  # a ready line still wins while it may be on its way to CloudWatch
        if ready.fallback is ReadyFallback.STARTED:
            return started
        return item.healthy_at

    def _result_of(
        self,
        item: _Pending,
        task: dict[str, Any],
        failure: timeline.Failure | None,
        snapshotter: Snapshotter,
    ) -> RunResult:
        return timeline.build_run(
            arm=item.slot.arm,
            index=item.slot.index,
            task=task,
            ready_at=item.ready_at,
            snapshotter=snapshotter,
            failure=failure,
        )

    def _stop(self, arn: str) -> None:
        if arn in self.stopped:
            return
        self.ecs.stop_task(arn, STOP_REASON)
        self.stopped.add(arn)

    def _result(self, started_at: datetime, results: list[RunResult]) -> ProbeResult:
        arms: list[ArmResult] = []
        for arm in self.arms:
            runs = tuple(r for r in results if r.arm == arm.name)
            arm_stats = {p: stats.summarize(timeline.ok_phase_values(runs, p)) for p in Phase}
            arms.append(
                ArmResult(
                    name=arm.name, image=arm.image, digest=arm.digest, runs=runs, stats=arm_stats
                )
            )
        return ProbeResult(
            run_id=self.run_id,
            started_at=started_at,
            region=self.region,
            cluster=self.ecs.cluster,
            arms=tuple(arms),
        )

    # -- cleanup --------------------------------------------------------------------------
    def cleanup(self, *, raise_errors: bool = True) -> None:
        """Stop every task of this run and deregister + delete its revisions.

        Every step is attempted; problems are logged, and raised as one ``AwsError`` when
        ``raise_errors`` (not while another error is already propagating)."""
        problems: list[str] = []
        arns = list(dict.fromkeys(self.launched))
        try:
            arns += [a for a in self.ecs.list_tasks(self.run_id) if a not in arns]
        except AwsError as exc:
            problems.append(f"ListTasks: {exc}")
        for arn in arns:
            if arn in self.stopped:
                continue
            try:
                self._stop(arn)
            except AwsError as exc:
                problems.append(f"StopTask {arn}: {exc}")
        revisions = list(self.revisions.values())
        for arn in revisions:
            try:
                self.ecs.deregister(arn)
            except AwsError as exc:
                problems.append(f"DeregisterTaskDefinition {arn}: {exc}")
        if revisions:
            try:
                self.ecs.delete(revisions)
            except AwsError as exc:
                problems.append(f"DeleteTaskDefinitions: {exc}")
        self.revisions.clear()
        if problems:
            message = "probe cleanup incomplete: " + "; ".join(problems)
            log.error("%s", message)
            if raise_errors:
                raise AwsError(message, hint=f"stop tasks started by {self.run_id} by hand")
        else:
            log.info("cleanup: %d task(s) stopped, %d revision(s) gone", len(arns), len(revisions))


def _summary(result: RunResult) -> str:
    if not result.ok:
        return f"FAILED {result.failure_kind}: {result.failure_reason}"
    total = result.phases.get(Phase.TOTAL)
    shown = "?" if total is None else f"{total:.3f}s"
    return f"ready, total {shown}, snapshotter {result.snapshotter}"

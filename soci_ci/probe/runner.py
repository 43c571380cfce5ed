"""The probe orchestration: register revisions, run arms interleaved, poll, collect, clean up.

Time comes from an injected ``clock`` (wall clock, aware datetimes) and ``sleep``, so tests
drive a fake ECS through minutes of Fargate lifecycle in milliseconds. Cleanup always runs
(``cleanup.py``); ``signal_guard`` turns SIGTERM/SIGINT into ``Interrupted`` so that it runs
on CI cancellation too. Each probe start first stops stale tasks of earlier probe runs.

Infrastructure failures (capacity, quotas, Spot interruptions, the check container) are not
the image's fault: such a run is re-run, up to ``probe.infra_retries`` over the whole probe,
and reported apart from image failures.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import FrameType
from typing import Any

from soci_ci.errors import AwsError, Interrupted
from soci_ci.oci.image_ref import parse_image_ref
from soci_ci.probe import cleanup, schedule, stats, task_definition, timeline
from soci_ci.probe.check_image import CHECK_CONTAINER
from soci_ci.probe.ecs import EcsApi, error_message, is_lost_answer
from soci_ci.probe.logs import LogsApi, StreamCursor, first_match, parse_snapshotter
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

SNAPSHOTTER_GRACE_SECONDS = 60.0  # how long to wait for the check container's report
PROGRESS_EVERY_SECONDS = 15.0
FALLBACK_GRACE_SECONDS = 30.0  # after startedAt, before a ready fallback replaces the log line
MISSING_GRACE_SECONDS = 60.0  # DescribeTasks may not know a just-started task yet
FIRST_LINE_WARNING = (
    "readiness is the app's first log line (probe.ready.log_regex is not set): the clock "
    "stops before most lazy loading, which flatters SOCI; set probe.ready.log_regex or "
    "probe.ready.health_check"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Arm:
    name: ArmName
    image: str  # repository@sha256:...

    @property
    def digest(self) -> str | None:
        return parse_image_ref(self.image).digest


@dataclass(slots=True, kw_only=True)
class _Pending:
    slot: schedule.Slot
    arn: str
    launched: datetime
    app_log: StreamCursor
    check_log: StreamCursor
    ready_at: datetime | None = None
    healthy_at: datetime | None = None
    snapshotter: Snapshotter = Snapshotter.UNKNOWN
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
        check_image: str,
        progress: Callable[[str], None] = lambda line: None,
        poll_seconds: float = 3.0,
        base_definition: dict[str, Any] | None = None,
    ) -> None:
        self.ecs = ecs
        self.logs = logs
        self.settings = settings
        self.arms = list(arms)
        self.region = region
        self.run_id = run_id
        self.clock = clock
        self.sleep = sleep
        self.check_image = check_image
        self.progress = progress
        self.poll_seconds = poll_seconds
        self.base_definition = base_definition
        self.state = cleanup.RunState(run_id=run_id)
        self.cleaner = cleanup.Cleaner(ecs, self.state, clock=clock, sleep=sleep)
        self.pattern = settings.ready.pattern()
        self.retried: list[RunResult] = []
        self.warnings: list[str] = []
        self.infra_left = settings.infra_retries
        self.leftovers: list[str] = []
        self._total = 0
        self._started = clock()

    # -- the run --------------------------------------------------------------------------
    def run(self) -> ProbeResult:
        self._started = self.clock()
        results: list[RunResult] = []
        if self.settings.ready.first_line_only:
            self.warnings.append(FIRST_LINE_WARNING)
            self.progress("warning: " + FIRST_LINE_WARNING)
        try:
            self._stop_stale()
            self._register()
            results = self._run_all()
        except BaseException:
            with _signals_ignored():
                self.leftovers = self.cleaner.run()
            raise
        with _signals_ignored():
            self.leftovers = self.cleaner.run()
        for line in self.leftovers:
            self.progress(f"warning: left behind: {line}")
        return self._result(results)

    def _stop_stale(self) -> None:
        stopped, notes = cleanup.stop_stale(
            self.ecs,
            run_id=self.run_id,
            now=self.clock(),
            max_age_seconds=float(self.settings.task_deadline_seconds),
        )
        if stopped:
            self.progress(f"stopped {len(stopped)} stale task(s) of earlier probe runs")
        for note in notes:
            self.progress(f"warning: {note}")

    def definitions(self) -> dict[ArmName, dict[str, Any]]:
        """The RegisterTaskDefinition arguments per arm (also printed by ``--check``)."""
        created = int(self.clock().timestamp())
        return {
            arm.name: task_definition.build(
                self.settings,
                arm=arm.name,
                image=arm.image,
                region=self.region,
                run_id=self.run_id,
                check_image_ref=self.check_image,
                created=created,
                base=self.base_definition,
            )
            for arm in self.arms
        }

    def _register(self) -> None:
        for name, spec in self.definitions().items():
            self.state.register_uncertain = True  # until the answer is in
            self.state.revisions[str(name)] = self.ecs.register(spec)
            self.state.register_uncertain = False
            log.info("registered %s", self.state.revisions[str(name)])

    def _past_wall_budget(self) -> bool:
        elapsed = (self.clock() - self._started).total_seconds()
        return elapsed >= self.settings.max_wall_seconds

    def _run_all(self) -> list[RunResult]:
        queue = schedule.interleave([a.name for a in self.arms], self.settings.runs)
        total = self._total = len(queue)
        results: list[RunResult] = []
        pending: list[_Pending] = []
        while queue or pending:
            if queue and self._past_wall_budget():
                note = (
                    f"probe.max_wall_seconds ({self.settings.max_wall_seconds}) reached: "
                    f"{len(queue)} run(s) not started"
                )
                self.warnings.append(note)
                self.progress("warning: " + note)
                queue = []
            free = self.settings.concurrency - len(pending)
            if free > 0 and queue:
                batch, queue = queue[:free], queue[free:]
                for launch in schedule.launches(batch):
                    queue[:0] = self._launch(launch, pending, results)
            if pending:
                for item, result in self._poll(pending, total):
                    pending.remove(item)
                    retry = self._retry_slot(item.slot, result)
                    if retry is None:
                        results.append(result)
                    else:
                        queue.insert(0, retry)
                if pending:
                    self.sleep(self.poll_seconds)
        return sorted(results, key=lambda r: (r.index, r.arm))

    def _retry_slot(self, slot: schedule.Slot, result: RunResult) -> schedule.Slot | None:
        """The slot to run again after an infrastructure failure (within the budget)."""
        kind = result.failure_kind
        if result.ok or kind is None or not kind.infrastructure or self.infra_left <= 0:
            return None
        self.infra_left -= 1
        self.retried.append(result)
        self.progress(
            f"run {slot.ordinal}/{self._total} {slot.arm}: infrastructure failure ({kind}), "
            f"re-running ({self.infra_left} retries left)"
        )
        return replace(slot, attempt=slot.attempt + 1)

    def _launch(
        self, launch: schedule.Launch, pending: list[_Pending], results: list[RunResult]
    ) -> list[schedule.Slot]:
        """Start one RunTask call's tasks; returns slots to re-run (RunTask capacity failures)."""
        first = launch.slots[0]
        now = self.clock()
        # stale after this: the run itself gives up on the task at launch + ready timeout
        deadline = int(now.timestamp()) + self.settings.task_deadline_seconds
        tags = task_definition.resource_tags(
            self.run_id, self.settings.tags, **{task_definition.TAG_DEADLINE: str(deadline)}
        )
        token = f"{self.run_id}-{first.ordinal}-{first.attempt}"[:64]
        kwargs = self.ecs.run_task_kwargs(
            task_definition=self.state.revisions[str(launch.arm)],
            count=launch.count,
            settings=self.settings,
            started_by=self.run_id,
            client_token=token,
            tags=tags,
        )
        self.state.unresolved[token] = kwargs  # until the answer is known
        self.state.last_run_task = now
        try:
            tasks, failures = self.ecs.run_task(kwargs)
        except AwsError as exc:
            refused = _refused_for_capacity(exc)
            if refused is None:
                raise  # the token stays unresolved: cleanup asks again
            tasks, failures = [], [{"reason": refused}] * launch.count  # no task was started
        self.state.unresolved.pop(token, None)
        self.state.last_run_task = self.clock()
        arns = [str(t["taskArn"]) for t in tasks]
        self.state.add_tasks(arns)
        group = self.settings.log_group or ""
        for slot, task, arn in zip(launch.slots, tasks, arns, strict=False):
            pending.append(
                _Pending(
                    slot=slot,
                    arn=arn,
                    launched=now,
                    task=task,
                    app_log=StreamCursor(
                        group=group,
                        stream=task_definition.log_stream(
                            self.run_id, self.settings.container_name, arn
                        ),
                    ),
                    check_log=StreamCursor(
                        group=group,
                        stream=task_definition.log_stream(self.run_id, CHECK_CONTAINER, arn),
                    ),
                )
            )
        again: list[schedule.Slot] = []
        for i, slot in enumerate(launch.slots[len(tasks) :]):
            failure = timeline.classify_run_task_failure(failures[i] if i < len(failures) else {})
            self.progress(
                f"run {slot.ordinal}/{self._total} {slot.arm} RunTask failed: {failure.reason}"
            )
            result = timeline.build_run(
                arm=slot.arm,
                index=slot.index,
                task=None,
                ready_at=None,
                snapshotter=Snapshotter.UNKNOWN,
                failure=failure,
                attempt=slot.attempt,
            )
            retry = self._retry_slot(slot, result)
            if retry is None:
                results.append(result)
            else:
                again.append(retry)
        return again

    def _poll(self, pending: list[_Pending], total: int) -> list[tuple[_Pending, RunResult]]:
        described = {t["taskArn"]: t for t in self.ecs.describe_tasks([p.arn for p in pending])}
        now = self.clock()
        over_budget = self._past_wall_budget()
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
            result = self._check(item, task, now, elapsed, missing=item.arn not in described)
            if result is None and over_budget:
                result = self._result_of(
                    item,
                    task,
                    timeline.Failure(
                        kind=FailureKind.NEVER_READY,
                        reason=f"probe.max_wall_seconds ({self.settings.max_wall_seconds}) "
                        "reached before the app was ready",
                    ),
                )
            if result is not None:
                self.cleaner.stop(item.arn)
                self.progress(f"run {item.slot.ordinal}/{total} {item.slot.arm} {_summary(result)}")
                finished.append((item, result))
        return finished

    def _read_check(self, item: _Pending) -> None:
        if not self.settings.snapshotter_check or item.check_log.exhausted:
            return
        events = self.logs.read(item.check_log)
        found = parse_snapshotter((m for _, m in events), self.settings.container_name)
        if found is not Snapshotter.UNKNOWN:
            item.snapshotter = found

    def _check(
        self, item: _Pending, task: dict[str, Any], now: datetime, elapsed: float, *, missing: bool
    ) -> RunResult | None:
        """The run's result once it is decided, else None (keep polling)."""
        ready = self.settings.ready
        if missing and elapsed >= MISSING_GRACE_SECONDS:
            failure = timeline.Failure(
                kind=FailureKind.OTHER,
                reason=f"DescribeTasks does not know the task {elapsed:.0f} s after RunTask",
            )
            return self._result_of(item, task, failure)
        if task.get("startedAt") is not None or task.get("lastStatus") == "STOPPED":
            self._read_check(item)
        if item.ready_at is None:
            item.ready_at = self._ready_at(item, task, now)
        if item.ready_at is None:
            if task.get("lastStatus") == "STOPPED":
                failure = timeline.classify_stopped(
                    task,
                    container_name=self.settings.container_name,
                    check_name=CHECK_CONTAINER,
                    check_image=self.check_image,
                )
                return self._result_of(item, task, failure)
            if elapsed >= ready.timeout_seconds:
                failure = timeline.Failure(
                    kind=FailureKind.NEVER_READY,
                    reason=f"not ready within {ready.timeout_seconds:g} s "
                    f"(last status {task.get('lastStatus')})",
                )
                return self._result_of(item, task, failure)
            return None
        if not self.settings.snapshotter_check:
            return self._result_of(item, task, None)
        waited = (now - item.ready_at).total_seconds()
        if (
            item.snapshotter is Snapshotter.UNKNOWN
            and waited < SNAPSHOTTER_GRACE_SECONDS
            and task.get("lastStatus") != "STOPPED"
        ):
            return None
        return self._result_of(item, task, None)

    def _ready_at(self, item: _Pending, task: dict[str, Any], now: datetime) -> datetime | None:
        started = timeline.to_datetime(task.get("startedAt"))
        if started is None:
            return None
        ready = self.settings.ready
        if ready.health_check is None or ready.log_regex is not None:
            millis = first_match(self.logs.read(item.app_log), self.pattern)
            if millis is not None:
                return timeline.from_millis(millis)
        healthy = task.get("healthStatus") == "HEALTHY" or any(
            c.get("healthStatus") == "HEALTHY"
            for c in task.get("containers") or ()
            if c.get("name") == self.settings.container_name
        )
        if healthy and item.healthy_at is None:
            item.healthy_at = now  # resolution: the poll interval
        if ready.health_check is not None and ready.log_regex is None:
            return item.healthy_at
        if ready.fallback is ReadyFallback.NONE:
            return None
        if (now - started).total_seconds() < FALLBACK_GRACE_SECONDS:
            return None  # a ready line still wins while it may be on its way to CloudWatch
        if ready.fallback is ReadyFallback.STARTED:
            return started
        return item.healthy_at

    def _result_of(
        self, item: _Pending, task: dict[str, Any], failure: timeline.Failure | None
    ) -> RunResult:
        return timeline.build_run(
            arm=item.slot.arm,
            index=item.slot.index,
            task=task,
            ready_at=item.ready_at,
            snapshotter=item.snapshotter,
            failure=failure,
            attempt=item.slot.attempt,
        )

    def _result(self, results: list[RunResult]) -> ProbeResult:
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
            started_at=self._started,
            region=self.region,
            cluster=self.ecs.cluster,
            arms=tuple(arms),
            warnings=tuple(self.warnings),
            retried=tuple(self.retried),
            leftovers=tuple(self.leftovers),
        )


def _refused_for_capacity(exc: AwsError) -> str | None:
    """RunTask refused with a capacity or quota error (an exception, not ``failures[]``):
    no task was started, and the runs are infrastructure failures like ``failures[]`` ones."""
    cause = exc.__cause__
    if cause is None or exc.throttled or is_lost_answer(cause):
        return None
    message = error_message(cause)
    kind = timeline.classify_run_task_failure({"reason": message}).kind
    return message if kind.infrastructure and kind is not FailureKind.RUN_TASK_FAILED else None


def _summary(result: RunResult) -> str:
    if not result.ok:
        return f"FAILED {result.failure_kind}: {result.failure_reason}"
    total = result.phases.get(Phase.TOTAL)
    shown = "?" if total is None else f"{total:.3f}s"
    return f"ready, total {shown}, snapshotter {result.snapshotter}"

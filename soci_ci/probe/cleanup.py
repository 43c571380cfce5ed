"""Nothing outlives a probe: stop its tasks, sweep until ListTasks agrees, remove revisions.

Order matters when time is short (GitHub kills a cancelled job ~10 s after SIGTERM):
1. RunTask calls whose answer is unknown (lost, interrupted) are repeated with the same
   ``clientToken``: ECS answers with the task it started (or starts it now), so its ARN is
   known and it can be stopped;
2. every known task is stopped (StopTask on a stopped task counts as done);
3. ``ListTasks(startedBy=<run id>)`` is swept until it agrees: a listing with nothing left to
   stop, taken at least ``CONSISTENCY_SECONDS`` after the last RunTask (ListTasks is
   eventually consistent and hides tasks that young), within ``SWEEP_SECONDS``;
4. the run's revisions are deregistered and deleted, with retries.
What could not be removed is returned as leftovers (reported, never silently dropped).
A task that survives all of this still ends at its deadline: its check container is an
essential watchdog, and the next probe stops stale tasks (``stop_stale``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soci_ci.errors import AwsError
from soci_ci.probe import task_definition
from soci_ci.probe.ecs import EcsApi
from soci_ci.probe.timeline import to_datetime

log = logging.getLogger(__name__)

STOP_REASON = "soci-ci probe finished"
STALE_REASON = "soci-ci probe: stale task of an earlier probe run, past its deadline"
CONSISTENCY_SECONDS = 15.0
SWEEP_SECONDS = 60.0
SWEEP_INTERVAL = 3.0
RESOLVE_ATTEMPTS = 3


@dataclass(slots=True, kw_only=True)
class RunState:
    """What the probe run created, as far as it knows (mutable, shared with the runner)."""

    run_id: str
    launched: list[str] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)
    unresolved: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> kwargs
    revisions: dict[str, str] = field(default_factory=dict)  # arm -> revision ARN
    register_uncertain: bool = False  # a RegisterTaskDefinition answer may have been lost
    last_run_task: datetime | None = None

    def add_tasks(self, arns: list[str]) -> None:
        for arn in arns:
            if arn not in self.launched:
                self.launched.append(arn)


class Cleaner:
    def __init__(
        self,
        ecs: EcsApi,
        state: RunState,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self.ecs = ecs
        self.state = state
        self.clock = clock
        self.sleep = sleep

    def stop(self, arn: str, reason: str = STOP_REASON) -> None:
        if arn in self.state.stopped:
            return
        self.ecs.stop_task(arn, reason)
        self.state.stopped.add(arn)

    def run(self) -> list[str]:
        """Every step attempted; the leftovers returned (empty: nothing is left)."""
        leftovers: list[str] = []
        leftovers += self._resolve_tokens()
        for arn in list(self.state.launched):
            try:
                self.stop(arn)
            except AwsError as exc:
                leftovers.append(f"task {arn}: StopTask failed: {exc}")
        leftovers += self._sweep()
        leftovers += self._revisions()
        if leftovers:
            log.error("probe cleanup incomplete: %s", "; ".join(leftovers))
        else:
            log.info("cleanup: %d task(s) stopped, revisions removed", len(self.state.stopped))
        return leftovers

    def _resolve_tokens(self) -> list[str]:
        leftovers: list[str] = []
        for token, kwargs in list(self.state.unresolved.items()):
            error: AwsError | None = None
            for _attempt in range(RESOLVE_ATTEMPTS):
                try:
                    tasks, _failures = self.ecs.run_task(kwargs)
                except AwsError as exc:
                    error = exc
                    continue
                self.state.add_tasks([str(t["taskArn"]) for t in tasks])
                self.state.last_run_task = self.clock()
                del self.state.unresolved[token]
                break
            if token in self.state.unresolved:
                leftovers.append(f"RunTask {token}: outcome unknown ({error})")
        return leftovers

    def _sweep(self) -> list[str]:
        start = self.clock()
        problems: list[str] = []
        while True:
            try:
                listed = self.ecs.list_tasks(started_by=self.state.run_id)
            except AwsError as exc:
                listed = None
                problems = [f"ListTasks(startedBy={self.state.run_id}): {exc}"]
            if listed is not None:
                problems = []
                fresh = [a for a in listed if a not in self.state.stopped]
                self.state.add_tasks(fresh)
                for arn in fresh:
                    try:
                        self.stop(arn)
                    except AwsError as exc:
                        problems.append(f"task {arn}: StopTask failed: {exc}")
                if not fresh and not problems and self._consistent():
                    return []
            if (self.clock() - start).total_seconds() >= SWEEP_SECONDS:
                if listed is not None and not problems:
                    return []  # listings agree; the consistency window was not reached
                return problems or ["ListTasks sweep did not settle"]
            self.sleep(SWEEP_INTERVAL)

    def _consistent(self) -> bool:
        last = self.state.last_run_task
        return last is None or (self.clock() - last).total_seconds() >= CONSISTENCY_SECONDS

    def _revisions(self) -> list[str]:
        leftovers: list[str] = []
        arns = list(dict.fromkeys(self.state.revisions.values()))
        gone: list[str] = []
        for arn in arns:
            try:
                self.ecs.deregister(arn)
                gone.append(arn)
            except AwsError as exc:
                leftovers.append(f"revision {arn}: DeregisterTaskDefinition failed: {exc}")
        # A registration whose answer was lost and retried leaves an extra revision: find the
        # ACTIVE ones tagged with this run (after the known ones, which matter most).
        for arn in self._tagged_revisions(strict=self.state.register_uncertain):
            if arn in gone:
                continue
            try:
                self.ecs.deregister(arn)
                gone.append(arn)
            except AwsError as exc:
                leftovers.append(f"revision {arn}: DeregisterTaskDefinition failed: {exc}")
        if gone:
            try:
                leftovers += [f"revision {x}" for x in self.ecs.delete(gone)]
            except AwsError as exc:
                leftovers.append(f"revisions {', '.join(gone)}: DeleteTaskDefinitions: {exc}")
        self.state.revisions.clear()
        return leftovers

    def _tagged_revisions(self, *, strict: bool) -> list[str]:
        """ACTIVE probe revisions tagged with this run (a lost RegisterTaskDefinition answer).

        Listing may be denied by an older IAM policy: then only a warning, unless a
        registration is known to be uncertain (``strict``: reported as a leftover risk)."""
        found: list[str] = []
        known = set(self.state.revisions.values())
        for family in task_definition.probe_families():
            try:
                for arn in self.ecs.list_task_definitions(family):
                    if arn in known:
                        continue
                    if _tag(self.ecs.describe_task_definition(arn), task_definition.TAG_RUN) == (
                        self.state.run_id
                    ):
                        found.append(arn)
            except AwsError as exc:
                level = logging.ERROR if strict else logging.WARNING
                log.log(level, "listing %s revisions failed: %s", family, exc)
        return found


def _tag(resource: Mapping[str, Any], key: str) -> str | None:
    for tag in resource.get("tags") or ():
        if isinstance(tag, Mapping) and tag.get("key") == key:
            value = tag.get("value")
            return None if value is None else str(value)
    return None


def stop_stale(
    ecs: EcsApi, *, run_id: str, now: datetime, max_age_seconds: float
) -> tuple[list[str], list[str]]:
    """Stop tasks of *earlier* probe runs past their deadline; remove their expired revisions.

    A task is stale when its ``soci-ci:deadline`` tag has passed (or, untagged but started by
    soci-ci, when it is older than ``max_age_seconds``); a revision when its deadline tag (the
    end of its run's wall-time cap) has passed: a concurrent probe is never disturbed.
    Returns (stopped task ARNs, notes on what failed)."""
    stopped: list[str] = []
    notes: list[str] = []
    epoch = now.timestamp()
    for family in task_definition.probe_families():
        try:
            arns = ecs.list_tasks(family=family)
            tasks = ecs.describe_tasks(arns, include_tags=True) if arns else []
        except AwsError as exc:
            notes.append(f"stale-task check of {family} failed: {exc}")
            continue
        for task in tasks:
            owner = _tag(task, task_definition.TAG_RUN)
            if owner == run_id:
                continue
            if owner is None and not str(task.get("startedBy") or "").startswith(
                task_definition.FAMILY_PREFIX
            ):
                continue  # not started by soci-ci: never touched
            deadline = _tag(task, task_definition.TAG_DEADLINE)
            created = to_datetime(task.get("createdAt"))
            try:
                expired = float(deadline) < epoch if deadline is not None else None
            except ValueError:
                expired = None
            if expired is None:
                expired = created is not None and (now - created).total_seconds() > (
                    max_age_seconds
                )
            if not expired:
                continue
            arn = str(task["taskArn"])
            try:
                ecs.stop_task(arn, STALE_REASON)
                stopped.append(arn)
            except AwsError as exc:
                notes.append(f"stale task {arn}: StopTask failed: {exc}")
        notes += _stale_revisions(ecs, family, run_id=run_id, epoch=epoch)
    return stopped, notes


def _stale_revisions(ecs: EcsApi, family: str, *, run_id: str, epoch: float) -> list[str]:
    notes: list[str] = []
    try:
        arns = ecs.list_task_definitions(family)
    except AwsError as exc:
        return [f"stale-revision check of {family} failed: {exc}"]
    old: list[str] = []
    for arn in arns:
        try:
            definition = ecs.describe_task_definition(arn)
        except AwsError as exc:
            notes.append(f"revision {arn}: {exc}")
            continue
        if _tag(definition, task_definition.TAG_RUN) in {None, run_id}:
            continue  # not soci-ci's, or this run's own
        expires = _tag(definition, task_definition.TAG_DEADLINE)
        try:
            # a concurrent probe may still start tasks from it until then
            is_old = expires is not None and float(expires) < epoch
        except ValueError:
            is_old = False
        if is_old:
            try:
                ecs.deregister(arn)
                old.append(arn)
            except AwsError as exc:
                notes.append(f"stale revision {arn}: {exc}")
    if old:
        try:
            notes += [f"stale revision {x}" for x in ecs.delete(old)]
        except AwsError as exc:
            notes.append(f"stale revisions: DeleteTaskDefinitions: {exc}")
    return notes

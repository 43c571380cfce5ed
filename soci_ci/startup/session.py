"""One recorded start: create the container, watch its rootfs, start it, wait until ready.

Order: create the container (its rootfs directories exist from then on), mark their
filesystems (in process, or in the helper container, which says when it has marked), start
the container, wait for the first ready condition or the timeout, kill it (SIGKILL: nothing
more is read), then collect every queued event. Both containers are removed whatever happens,
including Ctrl-C and SIGTERM (the CLI turns those into `Interrupted`, which passes through here).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from soci_ci.errors import StartupError
from soci_ci.startup import engine
from soci_ci.startup.recorder import Access, Recorder, decode_line, resolve_dirs
from soci_ci.user_regex import UserRegex

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
STATE_EVERY_SECONDS = 0.25
HELPER_MARK_TIMEOUT = 60.0
DRAIN_TIMEOUT = 30.0


class RecorderMode(StrEnum):
    AUTO = "auto"  # in process when possible, else the helper container
    LOCAL = "local"
    HELPER = "helper"


class ReadyBy(StrEnum):
    LOG = "log"
    HEALTH = "health"
    AFTER = "after"
    EXIT = "exit"  # exited with code 0 before any other signal: the whole run was its start


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyRule:
    log_regex: UserRegex | None = None
    health: bool = False
    after_seconds: float | None = None
    timeout_seconds: float = 120.0

    def describe(self) -> str:
        parts = []
        if self.log_regex is not None:
            parts.append(f"a log line matching {self.log_regex.pattern!r}")
        if self.health:
            parts.append("the health check passing")
        if self.after_seconds is not None:
            parts.append(f"{self.after_seconds:g} s after start")
        return " or ".join(parts) or "nothing"


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    accesses: tuple[Access, ...]
    ready_by: ReadyBy
    ready_seconds: float  # start -> ready
    mode: RecorderMode
    driver: str
    overflow: bool = False


class _Watch:
    """The ready signals and the helper's lines, filled by log threads."""

    def __init__(self, rule: ReadyRule) -> None:
        self.rule = rule
        self.log_ready = threading.Event()
        self.accesses: list[Access] = []
        self.marked = threading.Event()
        self.ended = threading.Event()
        self.helper_error: str | None = None
        self.overflow = False

    def on_target_line(self, line: str) -> None:
        if self.rule.log_regex is not None and self.rule.log_regex.search(line):
            self.log_ready.set()

    def on_helper_line(self, line: str) -> None:
        word, text, path = decode_line(line)
        if word == "marked":
            self.marked.set()
        elif word == "file":
            self.accesses.append(Access(path=path, kind=text))
        elif word == "end":
            self.overflow = text == "1"
            self.ended.set()
        elif word == "error":
            self.helper_error = text[:300]
            self.marked.set()
            self.ended.set()
        else:
            log.debug("helper: %s", line[:200])


class _Collector:
    """Reads the in-process recorder's events in a thread while the main thread waits."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="startup-events")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.recorder.poll(POLL_SECONDS)
        except BaseException as exc:  # re-raised in the main thread by `finish`
            self.error = exc

    def finish(self) -> None:
        """Stop the thread, then read what is still queued (the container is dead)."""
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise StartupError(f"reading fanotify events failed: {self.error}")
        self.recorder.drain()

    def finish_quietly(self) -> None:
        self._stop.set()
        self._thread.join()


def _wait_ready(client: Any, target: str, watch: _Watch, started: float) -> ReadyBy:
    rule = watch.rule
    next_state = 0.0
    while True:
        now = time.monotonic()
        if watch.log_ready.is_set():
            return ReadyBy.LOG
        if rule.after_seconds is not None and now - started >= rule.after_seconds:
            return ReadyBy.AFTER
        if now >= next_state:
            next_state = now + STATE_EVERY_SECONDS
            state = engine.state(client, target)
            health = (state.get("Health") or {}).get("Status")
            if rule.health and health == "healthy":
                return ReadyBy.HEALTH
            if not state.get("Running"):
                if watch.log_ready.is_set():
                    return ReadyBy.LOG
                if state.get("ExitCode") == 0 and state.get("Status") == "exited":
                    return ReadyBy.EXIT
                raise StartupError(
                    f"the container exited with code {state.get('ExitCode')} before it was "
                    f"ready (waiting for {rule.describe()})",
                    hint="check the entrypoint, command and ready condition; the container's "
                    "last output is in the log above",
                )
        if now - started > rule.timeout_seconds:
            raise StartupError(
                f"the container was not ready within {rule.timeout_seconds:g} s "
                f"(waiting for {rule.describe()}); it was stopped and removed",
                hint="raise startup.timeout_seconds or fix the ready condition",
            )
        watch.log_ready.wait(POLL_SECONDS)


def record(
    client: Any,
    image_id: str,
    spec: engine.RunSpec,
    rule: ReadyRule,
    *,
    mode: RecorderMode = RecorderMode.AUTO,
    helper_image: str | None = None,
) -> Recording:
    info = engine.engine_info(client)
    run_id = uuid.uuid4().hex[:12]
    target = engine.create_target(client, image_id, spec, f"soci-ci-startup-{run_id}")
    helper: str | None = None
    recorder: Recorder | None = None
    collector: _Collector | None = None
    streams: list[engine.LogLines] = []
    watch = _Watch(rule)
    try:
        dirs = engine.rootfs_dirs(client, target, info)
        use_local = mode is RecorderMode.LOCAL or (
            mode is RecorderMode.AUTO and engine.can_record_here(dirs)
        )
        if use_local:
            try:
                recorder = Recorder(resolve_dirs(dirs))
            except OSError as exc:
                raise StartupError(
                    f"cannot watch the container's files here: {exc}",
                    hint="run as root on the engine's host, or use --recorder helper",
                ) from None
            chosen = RecorderMode.LOCAL
        else:
            image = engine.helper_image(client, helper_image)
            helper = engine.start_helper(client, image, dirs, info, f"soci-ci-recorder-{run_id}")
            streams.append(engine.LogLines(client, helper, watch.on_helper_line))
            if not watch.marked.wait(HELPER_MARK_TIMEOUT) or watch.helper_error:
                tail = " | ".join(streams[0].tail[-3:])
                raise StartupError(
                    "the recording helper did not start: "
                    f"{watch.helper_error or tail or 'no output'}",
                    hint="the helper needs CAP_SYS_ADMIN through the Docker socket and an "
                    "image with soci-ci (--helper-image)",
                )
            chosen = RecorderMode.HELPER
        log.info("recording %s (%s, %s recorder)", image_id[:19], info.driver, chosen)
        collector = _Collector(recorder) if recorder is not None else None
        started = time.monotonic()
        engine.start(client, target)
        # After the start: a stream opened on a created container ends at once. It begins
        # with the first line, so nothing printed meanwhile is missed.
        streams.append(engine.LogLines(client, target, watch.on_target_line))
        by = _wait_ready(client, target, watch, started)
        ready_seconds = round(time.monotonic() - started, 3)
        engine.kill(client, target)
        engine.wait_stopped(client, target, 10)
        if collector is not None and recorder is not None:
            collector.finish()
            collector = None
            accesses = tuple(recorder.accesses)
            overflow = recorder.overflow or recorder.truncated
        else:
            assert helper is not None
            engine.kill(client, helper, "SIGTERM")
            if not watch.ended.wait(DRAIN_TIMEOUT):
                raise StartupError("the recording helper did not finish")
            if watch.helper_error:
                raise StartupError(f"the recording helper failed: {watch.helper_error}")
            accesses = tuple(watch.accesses)
            overflow = watch.overflow
        log.info("ready after %.2f s (%s): %d file(s) read", ready_seconds, by, len(accesses))
        return Recording(
            accesses=accesses,
            ready_by=by,
            ready_seconds=ready_seconds,
            mode=chosen,
            driver=info.driver,
            overflow=overflow,
        )
    finally:
        if collector is not None:
            collector.finish_quietly()
        for container in (target, helper):
            if container is not None:
                engine.remove(client, container)
        for stream in streams:
            stream.close()
        if recorder is not None:
            recorder.close()

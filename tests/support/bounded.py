"""Run a command as a subprocess under a time and memory limit, and measure what it used.

For hostile-input tests: each case must end fast, with bounded memory and a documented exit
code. The command gets `RLIMIT_AS` (address space) and `RLIMIT_CPU` (and `RLIMIT_FSIZE` on
request) from a small launcher process, runs in its own session (a timeout kills the whole
group), and its peak RSS comes from `wait4` in the launcher (`ru_maxrss`), not from
sampling, so a short spike is seen too.

    outcome = run_bounded([sys.executable, "-m", "soci_ci", "ztoc", ...], seconds=10)
    assert outcome.returncode == 3, outcome.describe()

`soci_ci_command(...)` builds the argv that runs this checkout's `soci_ci` package,
`entrypoint()` the action's entry point; `child_env()` is the test process's environment with
this checkout first on the path, `base_env(home)` a minimal one (no CI variables at all).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # wall clock
    max_rss: int  # bytes, peak resident set of the child
    timed_out: bool

    def describe(self) -> str:
        return (
            f"exit {self.returncode}{' (timed out)' if self.timed_out else ''} after "
            f"{self.seconds:.2f} s, peak RSS {self.max_rss / MiB:.0f} MiB\n"
            f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
        )

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def soci_ci_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "soci_ci", *(os.fspath(a) for a in args)]


def entrypoint() -> list[str]:
    """The action's entry point (`entrypoint.py`), as the container runs it."""
    return [sys.executable, str(REPO / "entrypoint.py")]


def base_env(home: Path) -> dict[str, str]:
    """A minimal environment that sees this checkout's code first: no CI variable leaks in."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
    }


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child running this checkout's code (worktree first on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("RUNNER_DEBUG", None)
    env.update(extra or {})
    return env


# The launcher: a small Python process that sets the limits, runs the command as its own
# child and reports that child's exit status and peak RSS. The command is not forked from
# the test process itself because Linux carries a process's peak RSS across fork and exec:
# a child forked from a 300 MiB pytest would report at least 300 MiB.
_LAUNCHER = """
import os, resource, signal, sys
memory, cpu, fsize, report = (int(a) for a in sys.argv[1:5])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if fsize >= 0:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
pid = os.fork()
if pid == 0:
    try:
        os.close(report)
        os.execvp(sys.argv[5], sys.argv[5:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
os.write(report, b"%d %d" % (os.waitstatus_to_exitcode(status), usage.ru_maxrss))
"""


def run_bounded(
    argv: Sequence[str],
    *,
    seconds: float = 20.0,
    memory: int = 1024 * MiB,
    cpu_seconds: int | None = None,
    file_size: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes = b"",
) -> Outcome:
    """Run `argv` with an address-space limit of `memory` bytes and a wall-clock timeout.

    `file_size` also caps every file the child writes (RLIMIT_FSIZE: a larger write fails
    with EFBIG, SIGXFSZ being ignored), to prove that nothing big is written."""
    cpu = cpu_seconds if cpu_seconds is not None else int(seconds) + 5
    read_end, write_end = os.pipe()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as inp,
    ):
        inp.write(stdin)
        inp.seek(0)
        started = time.monotonic()
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(memory), str(cpu)]
        launcher += [str(file_size if file_size is not None else -1), str(write_end)]
        proc = subprocess.Popen(
            [*launcher, *argv],
            stdin=inp,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else child_env(),
            cwd=cwd,
            pass_fds=(write_end,),
            start_new_session=True,
        )
        os.close(write_end)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(seconds, kill)
        timer.start()
        try:
            with os.fdopen(read_end, "rb") as report:
                reported = report.read().split()
            proc.wait()
        finally:
            timer.cancel()
        elapsed = time.monotonic() - started
        if len(reported) == 2:
            returncode, max_rss = int(reported[0]), int(reported[1]) * 1024
        else:  # the launcher itself was killed (timeout)
            returncode, max_rss = proc.returncode, 0
        out.seek(0)
        err.seek(0)
        return Outcome(
            returncode=returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=elapsed,
            max_rss=max_rss,
            timed_out=timed_out.is_set(),
        )

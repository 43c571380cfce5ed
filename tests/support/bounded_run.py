"""Run a command under a hard time and memory limit (hostile-input tests).

``run_bounded`` starts the command with ``RLIMIT_AS`` (address space) set in the child and a
wall-clock timeout; it returns the finished process and how long it took. A case that needs
more memory than the limit dies (MemoryError / killed), one that loops is killed at the
timeout: both fail the test that asserted a clean exit code.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _limit(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def run_bounded(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    seconds: float = 30.0,
    memory_mib: int = 1024,
    stdin: str | None = None,
) -> Bounded:
    start = time.monotonic()
    proc = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=seconds,
        check=False,
        input=stdin,
        preexec_fn=lambda: _limit(memory_mib << 20),
    )
    return Bounded(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def base_env(home: Path) -> dict[str, str]:
    """A minimal environment that sees this worktree's code first."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
    }


def soci_ci(*args: str) -> list[str]:
    return [sys.executable, "-m", "soci_ci", *args]


def entrypoint() -> list[str]:
    return [sys.executable, str(ROOT / "entrypoint.py")]

"""moto's server (`python -m moto.server`) on 127.0.0.1 for ECS, CloudWatch Logs, EC2 ...

Started as a subprocess on a free port, stopped by PID. With ``SOCI_CI_MOTO_ENDPOINT`` set,
that endpoint is used instead and nothing is started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.ports import free_port, wait_until


@dataclass(frozen=True)
class Moto:
    endpoint: str

    def set_transition(self, model: str, transition: dict[str, Any]) -> None:
        """moto's state manager (server mode): e.g. keep ECS tasks RUNNING for N describes."""
        body = json.dumps({"model_name": model, "transition": transition}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/state-manager/set-transition", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def unset_transition(self, model: str) -> None:
        body = json.dumps({"model_name": model}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/state-manager/unset-transition", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def _alive(endpoint: str) -> bool:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2) as answer:
        return bool(answer.status == 200)


class MotoProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="soci-ci-moto-", suffix=".log")[1])

    def start(self) -> Moto:
        endpoint = f"http://127.0.0.1:{self.port}"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(lambda: self._check(endpoint), timeout=60, what="moto server")
        except RuntimeError:
            tail = self.log.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"moto did not start: {tail}") from None
        return Moto(endpoint=endpoint)

    def _check(self, endpoint: str) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("moto exited")
        return _alive(endpoint)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.unlink(missing_ok=True)


def external_endpoint() -> str | None:
    return os.environ.get("SOCI_CI_MOTO_ENDPOINT") or None

"""The fake ECS + Logs (tests/fakes/ecs.py) behind the real AWS JSON 1.1 protocol, on 127.0.0.1.

A ``soci-ci probe`` subprocess reaches it through botocore's own endpoint variables
(``AWS_ENDPOINT_URL_ECS``, ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``): requests are signed and
serialised by botocore exactly as for AWS (``X-Amz-Target: AmazonEC2ContainerServiceV20141113.
RunTask`` / ``Logs_20140328.GetLogEvents``, JSON bodies, epoch-second timestamps), errors come
back as ``{"__type": code, "message": ...}`` with the HTTP status botocore maps to its
exceptions. A lost answer drops the connection after the task was created.

Fake time runs ``speed`` times faster than real time, starting at real now, so a Fargate
lifecycle of ~30 s passes in ~1.5 s and a task deadline of minutes in seconds.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.ecs import FakeAws, FakeClientError, ReadTimeoutError

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
LOGS_PREFIX = "Logs_20140328."


class ScaledClock:
    """Fake time = real start + speed x elapsed real time (stands in for ``FakeClock``)."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = datetime.now(UTC)
        self._real = time.monotonic()

    def __call__(self) -> datetime:
        return self._origin + timedelta(seconds=(time.monotonic() - self._real) * self.speed)

    @property
    def now(self) -> datetime:
        return self()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON: {value!r}")


class AwsFakeServer:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws
        self.lock = threading.Lock()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = outer.dispatch(target, json.loads(body or b"{}"))
                if status == 0:  # a lost answer: the request was carried out, no reply
                    self.close_connection = True
                    self.connection.close()
                    return
                data = json.dumps(answer, default=_json).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "fake-request")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def dispatch(self, target: str, body: dict[str, Any]) -> tuple[int, Any]:
        if target.startswith(ECS_PREFIX):
            service, operation = self.aws.ecs, target.removeprefix(ECS_PREFIX)
        elif target.startswith(LOGS_PREFIX):
            service, operation = self.aws.logs, target.removeprefix(LOGS_PREFIX)
        else:
            return 400, {"__type": "UnknownOperationException", "message": target}
        method = getattr(service, _snake(operation), None)
        if method is None:
            return 400, {"__type": "UnknownOperationException", "message": operation}
        accepted = inspect.signature(method).parameters
        kwargs = (
            body
            if any(p.kind is p.VAR_KEYWORD for p in accepted.values())
            else {k: v for k, v in body.items() if k in accepted}
        )
        with self.lock:
            self.requests.append(operation)
            try:
                return 200, method(**kwargs)
            except FakeClientError as exc:
                error = exc.response["Error"]
                status = int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
                return status, {"__type": error["Code"], "message": error["Message"]}
            except ReadTimeoutError:
                return 0, None

    @contextmanager
    def running(self) -> Iterator[AwsFakeServer]:
        self.thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "running": self.aws.running(),
                "tasks": [self.aws.task_payload(t) for t in self.aws.tasks.values()],
                "active_definitions": self.aws.active_definitions(),
                "definitions": {a: d["status"] for a, d in self.aws.definitions.items()},
            }

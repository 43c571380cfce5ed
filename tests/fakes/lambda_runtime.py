"""A small fake of the AWS Lambda Runtime API (the interface `awslambdaric` polls).

Endpoints and headers as documented in "AWS Lambda runtime API" (2018-06-01):
`GET /runtime/invocation/next` answers one queued event with `Lambda-Runtime-Aws-Request-Id`,
`Lambda-Runtime-Deadline-Ms` (epoch milliseconds), `Lambda-Runtime-Invoked-Function-Arn` and
`Lambda-Runtime-Trace-Id`, and blocks while the queue is empty; the function answers with
`POST /runtime/invocation/{id}/response` or `.../error`, or `POST /runtime/init/error` when it
cannot start. Every answer is recorded for the test.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.ports import free_port

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:soci-ci-index"


@dataclass
class Answer:
    request_id: str
    kind: str  # "response" | "error" | "init-error"
    body: Any
    error_type: str | None = None


@dataclass
class RuntimeApi:
    port: int = field(default_factory=free_port)
    answers: list[Answer] = field(default_factory=list)
    _events: queue.Queue[tuple[str, Any, float]] = field(default_factory=queue.Queue)
    _done: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def invoke(self, request_id: str, event: Any, *, timeout_seconds: float = 900.0) -> None:
        """Queue an invocation whose deadline is `timeout_seconds` after it is handed out."""
        self._events.put((request_id, event, timeout_seconds))

    def wait_for(self, count: int, timeout: float) -> list[Answer]:
        deadline = time.monotonic() + timeout
        with self._done:
            while len(self.answers) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.answers)} of {count} answers in {timeout} s")
                self._done.wait(left)
            return list(self.answers)

    def _record(self, answer: Answer) -> None:
        with self._done:
            self.answers.append(answer)
            self._done.notify_all()

    def start(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                while not api._stopping.is_set():
                    try:
                        request_id, event, timeout = api._events.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    deadline_ms = int((time.time() + timeout) * 1000)
                    self._reply(
                        200,
                        json.dumps(event).encode(),
                        {
                            "Content-Type": "application/json",
                            "Lambda-Runtime-Aws-Request-Id": request_id,
                            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                            "Lambda-Runtime-Trace-Id": f"Root=1-{request_id}",
                        },
                    )
                    return
                with contextlib.suppress(OSError):  # the client is gone: the test is over
                    self._reply(503)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                if parts[:1] == ["init"]:
                    api._record(Answer("", "init-error", body, error_type))
                elif (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2] in ("response", "error")
                ):
                    api._record(Answer(parts[1], parts[2], body, error_type))
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

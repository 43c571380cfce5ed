"""A scripted HTTP proxy in front of a registry that injects failures.

Rules match a method and a path substring and apply to the next `times` matching requests:
`status` (answer with that HTTP status, optional Retry-After), `reset_request` (drop the
connection before forwarding), `reset_response` (forward, then cut the body after `after`
bytes), `stall` (sleep before answering), `ignore_range` (forward without the `Range`
header: the registry answers 200 with the whole blob), `corrupt_range` (forward; flip the
last byte of a 206 body). Everything else is forwarded unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.servers.ports import free_port


@dataclass
class Rule:
    method: str
    path: str
    action: str  # status | reset_request | reset_response | stall | ignore_range | corrupt_range
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    after: int = 1024
    seconds: float = 0.0


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []  # (method, path, what happened)
        self.bytes_sent = 0  # response body bytes sent to clients
        self.blob_gets: list[str] = []  # paths of blob GETs, to spot double downloads
        self.headers: list[dict[str, str]] = []  # request headers, in order (same as `log`)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def add(self, rule: Rule) -> None:
        with self._lock:
            self.rules.append(rule)

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.method == method and rule.path in path:
                    rule.times -= 1
                    return rule
        return None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = outer._take(self.command, self.path)
                what = rule.action if rule else "forward"
                outer.log.append((self.command, self.path, what))
                outer.headers.append(dict(self.headers.items()))
                if rule and rule.action == "stall":
                    time.sleep(rule.seconds)
                if rule and rule.action == "status":
                    self.send_response(rule.status)
                    if rule.retry_after is not None:
                        self.send_header("Retry-After", rule.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if rule and rule.action == "reset_request":
                    self._reset()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", outer.upstream_port, timeout=30)
                headers: dict[str, str] = {}
                for k, v in self.headers.items():  # repeated headers (Accept) are joined
                    if k.lower() not in ("host", "connection"):
                        headers[k] = f"{headers[k]}, {v}" if k in headers else v
                headers["Host"] = f"127.0.0.1:{outer.port}"
                if rule and rule.action == "ignore_range":
                    headers = {k: v for k, v in headers.items() if k.lower() != "range"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if rule and rule.action == "corrupt_range" and resp.status == 206 and data:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() in ("connection", "transfer-encoding", "content-length"):
                        continue
                    if key.lower() == "location":
                        value = value.replace(
                            f"127.0.0.1:{outer.upstream_port}", f"127.0.0.1:{outer.port}"
                        )
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if rule and rule.action == "reset_response":
                    self.wfile.write(data[: rule.after])
                    self.wfile.flush()
                    self._reset()
                    return
                self.wfile.write(data)
                with outer._lock:
                    outer.bytes_sent += len(data)
                    if self.command == "GET" and "/blobs/" in self.path:
                        outer.blob_gets.append(self.path)

            def _reset(self) -> None:
                """Drop the connection at once (shutdown: the fd is shared with rfile/wfile)."""
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

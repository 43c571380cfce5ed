"""A scriptable HTTP(S) server on any loopback address, to play hostile registries, token
services and API hosts (127.0.0.2, 127.0.0.3 ... stand for "another host").

Each request is answered by a handler (method, path, headers -> `Answer`); every request is
recorded with its headers, so a test can assert that a secret never reached this host. Bodies
may be endless generators (the server writes until the client hangs up) and may declare any
`Content-Length`; `sent` counts the body bytes actually written, to bound what a client read.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def self_signed_ip(key: Path, cert: Path, ip: str) -> None:
    """A self-signed certificate valid for one IP address (subjectAltName), made with openssl."""
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", f"/CN={ip}", "-addext", f"subjectAltName=IP:{ip}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    content_length: int | None = None  # declared; default: len(body) for bytes, none for streams


Handler = Callable[[Seen], Answer]


def endless(chunk: bytes = b"\0" * (1 << 20)) -> Iterator[bytes]:
    while True:
        yield chunk


def pattern(size: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`size` bytes of byte(i % 251) (a lazily made large blob)."""
    block = bytes(i % 251 for i in range(251 * 4096))
    pos = 0
    while pos < size:
        start = pos % 251
        n = min(chunk, size - pos, len(block) - start)
        yield block[start : start + n]
        pos += n


def pattern_bytes(start: int, end: int) -> bytes:
    return bytes(i % 251 for i in range(start, end))


class HostileServer:
    def __init__(
        self, handler: Handler, *, bind: str = "127.0.0.1", tls_dir: Path | None = None
    ) -> None:
        self.handler = handler
        self.bind = bind
        self.seen: list[Seen] = []
        self.sent = 0
        self.cert: Path | None = None
        self._lock = threading.Lock()
        outer = self

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(self.command, self.path, dict(self.headers.items()))
                with outer._lock:
                    outer.seen.append(seen)
                answer = outer.handler(seen)
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                declared = answer.content_length
                if declared is None and isinstance(answer.body, bytes):
                    declared = len(answer.body)
                if declared is not None:
                    self.send_header("Content-Length", str(declared))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                parts = [answer.body] if isinstance(answer.body, bytes) else answer.body
                try:
                    for part in parts:
                        self.wfile.write(part)
                        with outer._lock:
                            outer.sent += len(part)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass
                self.close_connection = True

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer((bind, 0), Handle)
        self._server.daemon_threads = True
        if tls_dir is not None:
            key, self.cert = tls_dir / f"{bind}.key", tls_dir / f"{bind}.crt"
            self_signed_ip(key, self.cert, bind)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls_dir is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def authorizations(self) -> list[str]:
        return [s.authorization for s in self.seen if s.authorization]


class ServerPool:
    """The hostile servers of one test: each call starts one; `stop_all` ends them (the
    `serve` fixture of tests/integration/conftest.py does so after the test)."""

    def __init__(self) -> None:
        self._started: list[HostileServer] = []

    def __call__(
        self, handler: Handler, *, bind: str = "127.0.0.1", tls_dir: Path | None = None
    ) -> HostileServer:
        server = HostileServer(handler, bind=bind, tls_dir=tls_dir).start()
        self._started.append(server)
        return server

    def stop_all(self) -> None:
        for server in self._started:
            server.stop()
        self._started.clear()

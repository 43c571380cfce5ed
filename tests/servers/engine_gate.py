"""An "Engine 29 API gate": a unix-socket proxy in front of the test dockerd (20.10, API 1.41)
that answers version negotiation like Docker Engine 29.0-29.2 and refuses older clients the
way it does.

- `GET/HEAD /_ping` is answered here with `Api-Version: 1.52` (Engine 29's API).
- `GET /version` is forwarded and its `ApiVersion`/`MinAPIVersion` rewritten to 1.52/1.44.
- A request for `/v1.N/...` with N < 44 gets Engine 29's 400: "client version 1.N is too old.
  Minimum supported API version is 1.44, please upgrade your client to a newer version".
- Any other versioned request is forwarded as `/v1.41/...` (what the engine behind speaks);
  unversioned ones unchanged. Connection upgrades (BuildKit's `/session` and `/grpc`,
  attach) are spliced through; other requests get `Connection: close` so each connection
  carries one request and its response.

Every refused request is recorded in `refused`, every forwarded version in `versions`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import tempfile
import threading
from pathlib import Path

MIN_API = (1, 44)
API = "1.52"
BACKEND_API = "1.41"
_VERSIONED = re.compile(rb"^(?P<method>[A-Z]+) /v(?P<major>\d+)\.(?P<minor>\d+)(?P<rest>/\S*) ")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > 1 << 20:
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _response(status: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class EngineGate:
    def __init__(self, backend: str) -> None:
        self.backend = backend.removeprefix("unix://")
        self.dir = Path(tempfile.mkdtemp(prefix="soci-ci-engine29-"))
        self.path = self.dir / "docker.sock"
        self.host = f"unix://{self.path}"
        self.refused: list[str] = []
        self.versions: set[str] = set()
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> EngineGate:
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self.path.chmod(0o666)
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._handle(client)
        except OSError:
            pass
        finally:
            client.close()

    def _handle(self, client: socket.socket) -> None:
        head, rest = _read_head(client)
        if not head:
            return
        request_line, _, header_text = head.partition(b"\r\n")
        headers = header_text.split(b"\r\n") if header_text else []
        path = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
        if path.split(b"?")[0] in (b"/_ping", b"/_ping/"):
            body = b"" if request_line.startswith(b"HEAD") else b"OK"
            client.sendall(
                _response(
                    "200 OK",
                    body,
                    {
                        "Api-Version": API,
                        "Builder-Version": "2",
                        "Docker-Experimental": "false",
                        "Ostype": "linux",
                        "Content-Type": "text/plain; charset=utf-8",
                    },
                )
            )
            return
        match = _VERSIONED.match(request_line)
        if match is not None:
            version = (int(match["major"]), int(match["minor"]))
            text = f"{version[0]}.{version[1]}"
            if version < MIN_API:
                self.refused.append(request_line.decode(errors="replace"))
                message = (
                    f"client version {text} is too old. Minimum supported API version is "
                    f"{MIN_API[0]}.{MIN_API[1]}, please upgrade your client to a newer version"
                )
                client.sendall(
                    _response(
                        "400 Bad Request",
                        json.dumps({"message": message}).encode() + b"\n",
                        {"Content-Type": "application/json", "Api-Version": API},
                    )
                )
                return
            self.versions.add(text)
            request_line = (
                match["method"] + b" /v" + BACKEND_API.encode() + match["rest"] + b" "
            ) + request_line[match.end() :]
        upgrade = any(h.lower().startswith(b"upgrade:") for h in headers)
        if not upgrade:
            headers = [h for h in headers if not h.lower().startswith(b"connection:")]
            headers.append(b"Connection: close")
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        backend.connect(self.backend)
        try:
            backend.sendall(b"\r\n".join([request_line, *headers]) + b"\r\n\r\n" + rest)
            if path.split(b"?")[0].endswith(b"/version") and not upgrade:
                self._rewrite_version(client, backend)
                return
            up = threading.Thread(target=_pipe, args=(client, backend), daemon=True)
            up.start()
            _pipe(backend, client)
            up.join(timeout=1)
        finally:
            backend.close()

    @staticmethod
    def _rewrite_version(client: socket.socket, backend: socket.socket) -> None:
        data = b""
        while chunk := backend.recv(65536):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            info = json.loads(body)
            info["ApiVersion"], info["MinAPIVersion"] = API, f"{MIN_API[0]}.{MIN_API[1]}"
            body = json.dumps(info).encode()
        except ValueError:
            pass
        status = head.split(b"\r\n", 1)[0].decode().split(" ", 1)[1]
        client.sendall(
            _response(status, body, {"Content-Type": "application/json", "Api-Version": API})
        )

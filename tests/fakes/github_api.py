"""A small local HTTP server that behaves like the GitHub REST API for issue comments.

Serves ``GET /user``, ``GET/POST /repos/{o}/{r}/issues/{n}/comments`` (paginated with a
``Link`` header, ``per_page`` honoured, default 30 as on GitHub) and
``PATCH /repos/{o}/{r}/issues/comments/{id}``; ``GET /repos/{o}/{r}/contents/{path}?ref=``
(raw media type, from ``files``: (repo, ref, path) -> bytes) and ``GET /repos/{o}/{r}/pulls/{n}``
(from ``pulls``: (repo, n) -> the pull request object). Tokens map to identities: a token listed in
``read_only_tokens`` (a fork pull request's ``GITHUB_TOKEN``) gets 403 "Resource not accessible
by integration" on every write; ``bot_tokens`` get 403 on ``GET /user`` like ``GITHUB_TOKEN``.
``fail_next`` queues status codes (e.g. 502, or ``(403, "...secondary rate limit...")``) answered before the real handling. Every request
is recorded (method, path, body, authorization present) for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT = "github-actions[bot]"
_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")
_CONTENTS = re.compile(r"^/repos/([^/]+/[^/]+)/contents/(.+)$")
_PULL = re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$")


@dataclass
class Recorded:
    method: str
    path: str
    body: dict[str, Any] | None
    authorization: str | None


@dataclass
class FakeGitHub:
    """State of the fake; start with ``serve()``, stop with ``close()``."""

    users: dict[str, str] = field(default_factory=dict)  # token -> login
    bot_tokens: set[str] = field(default_factory=set)
    read_only_tokens: set[str] = field(default_factory=set)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    fail_next: list[int | tuple[int, str]] = field(default_factory=list)
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_comment(self, repo: str, number: int, login: str, body: str) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            comment = {
                "id": self.next_id,
                "user": {"login": login},
                "body": body,
                "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{self.next_id}",
            }
            self.comments.setdefault((repo, number), []).append(comment)
            return comment

    def serve(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                auth = self.headers.get("Authorization")
                parts = urlsplit(self.path)
                fake.requests.append(Recorded(method, self.path, body, auth))
                if fake.fail_next:
                    item = fake.fail_next.pop(0)
                    status, message = item if isinstance(item, tuple) else (item, "Server Error")
                    limited = status == 429 or "rate limit" in message
                    self._send(
                        status, {"message": message}, {"Retry-After": "0"} if limited else {}
                    )
                    return
                token = (auth or "").removeprefix("Bearer ").removeprefix("token ")
                login = fake.users.get(token)
                if login is None:
                    self._send(401, {"message": "Bad credentials"})
                    return
                if method == "GET" and parts.path == "/user":
                    if token in fake.bot_tokens:
                        self._send(403, {"message": "Resource not accessible by integration"})
                    else:
                        self._send(200, {"login": login})
                    return
                if method != "GET" and token in fake.read_only_tokens:
                    self._send(403, {"message": "Resource not accessible by integration"})
                    return
                if method == "GET" and self._read_only(parts.path, parts.query):
                    return
                match = _LIST.match(parts.path)
                if match and method == "GET":
                    self._list(match.group(1), int(match.group(2)), parts.query)
                    return
                if match and method == "POST" and body is not None:
                    comment = fake.add_comment(
                        match.group(1), int(match.group(2)), login, body["body"]
                    )
                    self._send(201, comment)
                    return
                match = _ONE.match(parts.path)
                if match and method == "PATCH" and body is not None:
                    with fake.lock:
                        for items in fake.comments.values():
                            for comment in items:
                                if comment["id"] == int(match.group(2)):
                                    comment["body"] = body["body"]
                                    self._send(200, comment)
                                    return
                self._send(404, {"message": "Not Found"})

            def _read_only(self, path: str, query: str) -> bool:
                match = _CONTENTS.match(path)
                if match:
                    ref = parse_qs(query).get("ref", [""])[0]
                    data = fake.files.get((match.group(1), ref, unquote(match.group(2))))
                    if data is None:
                        self._send(404, {"message": "Not Found"})
                        return True
                    self.send_response(200)
                    self.send_header("Content-Type", "application/vnd.github.raw")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return True
                match = _PULL.match(path)
                if match:
                    pull = fake.pulls.get((match.group(1), int(match.group(2))))
                    if pull is None:
                        self._send(404, {"message": "Not Found"})
                    else:
                        self._send(200, pull)
                    return True
                return False

            def _list(self, repo: str, number: int, query: str) -> None:
                params = parse_qs(query)
                per_page = min(100, int(params.get("per_page", ["30"])[0]))
                page = int(params.get("page", ["1"])[0])
                with fake.lock:
                    items = list(fake.comments.get((repo, number), []))
                chunk = items[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(items):
                    base = f"{fake.url}/repos/{repo}/issues/{number}/comments"
                    headers["Link"] = (
                        f'<{base}?per_page={per_page}&page={page + 1}>; rel="next", '
                        f'<{base}?per_page={per_page}&page=1>; rel="first"'
                    )
                self._send(200, chunk, headers)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

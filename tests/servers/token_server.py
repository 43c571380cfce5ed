"""A small Bearer token service for distribution's `auth: token:` (RS256 JWTs, x5c chain).

Pull is granted to anyone; push needs Basic credentials. Every request's scope is recorded so
tests can check that pull and push scopes are asked for separately.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.servers.ports import free_port
from tests.servers.registry import self_signed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, directory: Path, *, username: str, password: str) -> None:
        self.dir = directory
        self.username = username
        self.password = password
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        self_signed(self.key, self.cert, "soci-ci token issuer")
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.requests: list[tuple[str, bool]] = []  # (scope, authenticated)
        self.issued: list[str] = []  # every token handed out (tests check none leaks)
        self._server: ThreadingHTTPServer | None = None

    def registry_config(self) -> dict[str, str]:
        return {
            "realm": self.realm,
            "service": "soci-ci-test",
            "issuer": "soci-ci-test-issuer",
            "rootcertbundle": str(self.cert),
        }

    def sign(self, claims: dict[str, object]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64(sig)}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                scope = query.get("scope", [""])[0]
                auth = self.headers.get("Authorization", "")
                expected = (
                    "Basic "
                    + base64.b64encode(f"{outer.username}:{outer.password}".encode()).decode()
                )
                authenticated = auth == expected
                outer.requests.append((scope, authenticated))
                if auth and not authenticated:
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                if scope.startswith("repository:"):
                    _, name, actions = scope.split(":")
                    granted = [a for a in actions.split(",") if a == "pull" or authenticated]
                    access.append({"type": "repository", "name": name, "actions": granted})
                now = int(time.time())
                token = outer.sign(
                    {
                        "iss": "soci-ci-test-issuer",
                        "sub": outer.username if authenticated else "",
                        "aud": "soci-ci-test",
                        "exp": now + 300,
                        "nbf": now - 10,
                        "iat": now,
                        "jti": uuid.uuid4().hex,
                        "access": access,
                    }
                )
                outer.issued.append(token)
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

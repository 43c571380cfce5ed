"""An in-process fake registry mounted as a `requests` adapter (no sockets), scripted reply
by reply, and a `RegistryClient` wired to it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from urllib3.exceptions import ProtocolError

from soci_ci.registry.auth import Credentials
from soci_ci.registry.client import RegistryClient
from soci_ci.registry.retry import RetryPolicy
from soci_ci.registry.transport import Transport


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # the connection breaks after this many body bytes


class BreakingBody(io.BytesIO):
    def __init__(self, data: bytes, cut_after: int | None) -> None:
        super().__init__(data)
        self.cut_after = cut_after

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        sent = 0
        while chunk := self.read(amt):
            if self.cut_after is not None and sent + len(chunk) > self.cut_after:
                yield chunk[: self.cut_after - sent]
                raise ProtocolError("connection reset by peer")
            sent += len(chunk)
            yield chunk


Handler = Callable[[requests.PreparedRequest], Reply]


class FakeRegistry(BaseAdapter):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.seen.append((str(request.method), str(request.url), dict(request.headers)))
        reply = self.handler(request)
        response = requests.Response()
        response.status_code = reply.status
        response.headers.update(reply.headers)
        response.raw = BreakingBody(reply.body, reply.cut_after)
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


def client_for(
    handler: Handler, *, creds: Credentials | None = None
) -> tuple[RegistryClient, FakeRegistry, list[float]]:
    fake = FakeRegistry(handler)
    session = requests.Session()
    session.mount("https://", fake)
    sleeps: list[float] = []

    class Fixed:
        def get(self, host: str) -> Credentials | None:
            return creds

    client = RegistryClient(
        "reg.example",
        credentials=Fixed(),
        transport=Transport(),
        retry=RetryPolicy(attempts=4, base=1.0, sleep=sleeps.append, jitter=lambda: 1.0),
        session=session,
    )
    return client, fake, sleeps


def script(*replies: Reply) -> Handler:
    queue = list(replies)
    return lambda request: queue.pop(0)

"""Registry authentication: anonymous, Basic, and the Bearer challenge flow with scoped tokens.

The flow (distribution spec, "token authentication"): a request answered 401 carries
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`; we ask the realm for a token for
`repository:<name>:pull` (reads) or `repository:<name>:pull,push` (writes), cache it per
(repository, access), and repeat the request with `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from soci_ci.errors import RegistryError
from soci_ci.registry.retry import is_temporary_status

_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages (never the secret itself)


class CredentialSource(Protocol):
    def get(self, host: str) -> Credentials | None: ...


class Scheme(StrEnum):
    BASIC = "basic"
    BEARER = "bearer"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    scheme: Scheme
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str) -> Challenge:
    """One `WWW-Authenticate` challenge (quoted or bare parameter values, any case)."""
    scheme_text, _, rest = header.strip().partition(" ")
    try:
        scheme = Scheme(scheme_text.lower())
    except ValueError:
        scheme = Scheme.OTHER
    params = {
        m.group(1).lower(): (
            m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
        )
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme=scheme, params=params)


def repository_scope(repo: str, *, push: bool) -> str:
    return f"repository:{repo}:{'pull,push' if push else 'pull'}"


def basic_header(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


class TokenResponse(Protocol):
    status_code: int

    def json(self) -> Any: ...


# realm, query parameters, basic credentials or None -> the token service's response
TokenFetcher = Callable[[str, dict[str, str], tuple[str, str] | None], TokenResponse]


class Authenticator:
    """Authorization header values for one registry host, cached per (repository, push)."""

    def __init__(
        self, host: str, credentials: CredentialSource | None, fetch_token: TokenFetcher
    ) -> None:
        self.host = host
        self._credentials = credentials
        self._fetch_token = fetch_token
        self._headers: dict[tuple[str, bool], str] = {}
        self._lock = threading.Lock()

    def header(self, repo: str, *, push: bool) -> str | None:
        """The cached value for this access; a push token also serves pulls."""
        with self._lock:
            found = self._headers.get((repo, push))
            if found is None and not push:
                found = self._headers.get((repo, True))
            return found

    def answer(self, challenge_header: str, repo: str, *, push: bool) -> bool:
        """Answer a 401 challenge; False when there is nothing new to try."""
        challenge = parse_challenge(challenge_header)
        creds = self._credentials.get(self.host) if self._credentials else None
        if challenge.scheme is Scheme.BASIC:
            if creds is None:
                return False
            value = basic_header(creds)
        elif challenge.scheme is Scheme.BEARER and challenge.realm:
            value = "Bearer " + self._token(challenge, creds, repo, push=push)
        else:
            return False
        with self._lock:
            if self._headers.get((repo, push)) == value:
                return False
            self._headers[(repo, push)] = value
        return True

    def _token(
        self, challenge: Challenge, creds: Credentials | None, repo: str, *, push: bool
    ) -> str:
        where = f"{self.host}/{repo}"
        access = "push" if push else "pull"
        query = {"scope": repository_scope(repo, push=push)}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        basic = (creds.username, creds.password) if creds else None
        assert challenge.realm is not None
        response = self._fetch_token(challenge.realm, query, basic)
        status = response.status_code
        if status in (401, 403):
            raise RegistryError(
                f"{where}: the token service refused {access} access (HTTP {status})",
                status=status,
                hint="check the registry credentials (docker login, or --username/--password)",
            )
        if status != 200:
            raise RegistryError(
                f"{where}: the token service answered HTTP {status}",
                status=status,
                temporary=is_temporary_status(status),
                hint="the run can be repeated safely once the token service is back",
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"{where}: the token service sent no token",
                hint="check the realm in the registry's WWW-Authenticate header",
            )
        return token

"""Registry authentication: anonymous, Basic, and the Bearer challenge flow with scoped tokens.

The flow (distribution spec, "token authentication"): a request answered 401 carries
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`; we ask the realm for a token for
`repository:<name>:pull` (reads) or `repository:<name>:pull,push` (writes), cache it per
(repository, access), and repeat the request with `Authorization: Bearer <token>`.

Where credentials may go (SECURITY.md, "Credentials"): the realm must be HTTPS; a plain-HTTP
realm is accepted only from a plain-HTTP loopback registry and on that same loopback host. The
client answers only challenges of the registry's own origin (never of a redirect target).
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
from soci_ci.limits import REGISTRY_TOKEN_MAX
from soci_ci.redaction import redact_url, remember_secret
from soci_ci.registry.retry import is_temporary_status
from soci_ci.registry.transport import is_loopback, origin

_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what may stand in an Authorization header


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str  # where they came from, for messages (never the secret itself)

    def __post_init__(self) -> None:
        remember_secret(self.password)  # redacted from every message from now on


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
    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


# realm, query parameters, basic credentials or None -> the token service's response
TokenFetcher = Callable[[str, dict[str, str], tuple[str, str] | None], TokenResponse]


class Authenticator:
    """Authorization header values for one registry host, cached per (repository, push)."""

    def __init__(
        self,
        host: str,
        credentials: CredentialSource | None,
        fetch_token: TokenFetcher,
        *,
        base_url: str | None = None,
    ) -> None:
        self.host = host
        self.base_url = base_url or f"https://{host}"
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
        challenge = parse_challenge(challenge_header[:8192])
        if challenge.scheme is Scheme.BASIC:
            creds = self._credentials.get(self.host) if self._credentials else None
            if creds is None:
                return False
            value = basic_header(creds)
        elif challenge.scheme is Scheme.BEARER and challenge.realm:
            self.check_realm(challenge.realm, repo)
            creds = self._credentials.get(self.host) if self._credentials else None
            value = "Bearer " + self._token(challenge, creds, repo, push=push)
        else:
            return False
        with self._lock:
            if self._headers.get((repo, push)) == value:
                return False
            self._headers[(repo, push)] = value
        return True

    def check_realm(self, realm: str, repo: str) -> None:
        """A realm the registry's credentials may be sent to, or a `RegistryError`."""
        where = f"{self.host}/{repo}"
        target = origin(realm)
        registry = origin(self.base_url)
        if target is None or registry is None:
            raise RegistryError(
                f"{where}: the registry named an unusable token realm {redact_url(realm)!r}",
                hint="the realm must be an https:// URL; check the registry's WWW-Authenticate",
            )
        if target[0] == "https":
            return
        plain_loopback = registry[0] == "http" and is_loopback(registry[1])
        if plain_loopback and target[1] == registry[1]:
            return
        raise RegistryError(
            f"{where}: the registry's token realm {redact_url(realm)} is plain HTTP; "
            "credentials are not sent there",
            hint="a token realm must be https:// (plain HTTP is accepted only from a plain-HTTP "
            "registry on 127.0.0.1/localhost, on the same host)",
        )

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
        except (ValueError, RecursionError):
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"{where}: the token service sent no token",
                hint="check the realm in the registry's WWW-Authenticate header",
            )
        if len(token) > REGISTRY_TOKEN_MAX or not _TOKEN.fullmatch(token):
            raise RegistryError(
                f"{where}: the token service sent an unusable token ({len(token)} characters)",
                hint=f"a token is at most {REGISTRY_TOKEN_MAX} printable ASCII characters",
            )
        remember_secret(token)
        return token

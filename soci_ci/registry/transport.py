"""How to reach a registry host: scheme, TLS verification, timeouts, and URLs safe to print."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from soci_ci.redaction import redact_url

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:\d+)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Transport:
    plain_http: bool = False  # --plain-http
    ca_file: str | None = None  # --ca-file: PEM bundle that signed the registry certificate
    insecure: bool = False  # --insecure: TLS without verification
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def verify(self) -> bool | str:
        """The `requests` verify argument (passed per request: a session-level value loses
        against REQUESTS_CA_BUNDLE)."""
        if self.insecure:
            return False
        return self.ca_file or True

    def scheme(self, host: str) -> str:
        """Loopback registries speak plain HTTP unless a CA or --insecure says they use TLS."""
        tls_hint = bool(self.ca_file or self.insecure)
        plain = self.plain_http or (is_loopback(host) and not tls_hint)
        return "http" if plain else "https"

    def base_url(self, host: str) -> str:
        return f"{self.scheme(host)}://{host}"


def is_loopback(host: str) -> bool:
    return bool(_LOOPBACK.match(host))


Origin = tuple[str, str, int]  # scheme, host name (lower case), port
_DEFAULT_PORT = {"http": 80, "https": 443}


def origin(url: str) -> Origin | None:
    """Who a URL talks to: credentials for one origin never go to another. None: no URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or scheme not in _DEFAULT_PORT:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORT[scheme]


__all__ = ["Origin", "Transport", "is_loopback", "origin", "redact_url"]

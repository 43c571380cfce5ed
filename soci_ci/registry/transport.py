"""How to reach a registry host: scheme, TLS verification, timeouts, and URLs safe to print."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:\d+)?$")
# Query parameters that may carry credentials (pre-signed S3/CloudFront redirects, tokens).
_SECRET_PARAMS = re.compile(
    r"(?i)^(x-amz-.*|signature|sig|token|access_token|key-pair-id|policy|expires|_state)$"
)


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


def redact_url(url: str) -> str:
    """The URL without user info and with credential-like query values replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [(k, "***" if _SECRET_PARAMS.match(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe="*:/",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

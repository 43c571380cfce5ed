"""Image references (`docker://REF` or `registry/repo[:tag][@digest]`), normalized like Docker."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from soci_ci.errors import UsageError
from soci_ci.oci.image_ref import split_reference

DOCKER_HUB = "registry-1.docker.io"
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest if known, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def names_registry_host(name: str) -> bool:
    """Whether `name` (a reference's name part) starts with a registry host: Docker's rule,
    a first component with a `.` or `:`, or `localhost`; else the name is Docker Hub's."""
    first, sep, _ = name.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def parse_reference(text: str) -> Reference:
    name, tag, digest = split_reference(text.removeprefix("docker://"))
    if digest and not _DIGEST.fullmatch(digest):
        raise UsageError(f"invalid digest in image reference {text!r}")
    if tag is not None and not _TAG.fullmatch(tag):
        raise UsageError(f"invalid tag {tag!r} in image reference {text!r}")
    if names_registry_host(name):
        registry, _, repository = name.partition("/")
    else:
        registry, repository = DOCKER_HUB, name
        if "/" not in repository:
            repository = f"library/{repository}"
    if not repository or not all(_COMPONENT.fullmatch(c) for c in repository.split("/")):
        raise UsageError(
            f"invalid repository {repository!r} in image reference {text!r} "
            "(lowercase letters, digits and . _ - separators)"
        )
    if registry == "docker.io":
        registry = DOCKER_HUB
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest or None)


_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", DOCKER_HUB})


def parse_registry_host(text: str, *, what: str = "registry host") -> str:
    """A registry host as `--registry` / SOCI_CI_REGISTRY_HOST name it: `host[:port]`
    (a leading `https://` and a trailing `/` are accepted and dropped); Docker Hub's aliases
    become its registry host."""
    raw = text.strip()
    value = raw.lower()
    for prefix in ("https://", "http://"):
        value = value.removeprefix(prefix)
    value = value.rstrip("/")
    for suffix in ("/v1", "/v2"):
        value = value.removesuffix(suffix)
    name, colon, port = value.rpartition(":") if not value.endswith("]") else (value, "", "")
    if not colon:
        name, port = value, ""
    valid_name = bool(_HOST.fullmatch(name) or _IPV6.fullmatch(name))
    valid_port = not colon or (port.isdigit() and 0 < int(port) < 65536)
    if not value or not valid_name or not valid_port:
        raise UsageError(
            f"invalid {what} {raw[:100]!r}: expected HOST or HOST:PORT "
            "(e.g. ghcr.io, 123456789012.dkr.ecr.eu-west-1.amazonaws.com, 127.0.0.1:5000)"
        )
    return DOCKER_HUB if value in _HUB_ALIASES else value


def same_registry(a: str, b: str) -> bool:
    """One host for credentials: the same name and port (`localhost` is not `127.0.0.1`)."""

    def norm(host: str) -> str:
        lowered = host.lower()
        return DOCKER_HUB if lowered in _HUB_ALIASES else lowered

    return norm(a) == norm(b)

"""What to build (pure): parsed from the command line or the config file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from soci_ci.errors import UsageError
from soci_ci.oci.image_ref import split_reference


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildSpec:
    context: Path
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None  # e.g. "none"; None = the engine's default
    pull: bool = False
    push: bool = True
    # BuildKit only (docker buildx): `--secret` specs (id=ID,env=VAR | id=ID,src=FILE) and
    # `--cache-from` / `--cache-to` specs, passed to buildx as given.
    secrets: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(p for p in (self.platform or "").split(",") if p)

    @property
    def needs_buildkit(self) -> bool:
        return bool(self.secrets or self.cache_from or self.cache_to) or len(self.platforms) > 1


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """`KEY=VALUE` pairs (build args, labels)."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} must be KEY=VALUE, got {value!r}")
        pairs[key] = rest
    return pairs


def split_tag(reference: str) -> tuple[str, str]:
    """`repo[:tag]` → (repo, tag); the tag defaults to `latest`."""
    name, tag, _ = split_reference(reference)
    return name, tag if tag is not None else "latest"


# Docker's reference grammar (distribution/reference): lowercase path components joined by
# `/`, an optional `host[:port]` first; tags: 1-128 of [A-Za-z0-9_.-], not starting with . or -.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
)
_HOST += r"(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
_REPOSITORY = re.compile(rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_REFERENCE = 255


def check_repository(repository: str) -> str:
    """`repository` as Docker accepts it, else a UsageError (exit 2) saying what is wrong."""
    if len(repository) > MAX_REFERENCE or not _REPOSITORY.fullmatch(repository):
        name = repository.split("/", 1)[1] if "/" in repository else repository
        why = "it must be lowercase" if name != name.lower() else "it is not a valid name"
        if any(c.isspace() for c in repository):
            why = "it contains whitespace"
        raise UsageError(
            f"invalid repository {repository[:200]!r}: {why}",
            hint="a repository is [host[:port]/]path with lowercase letters, digits and "
            "separators (. _ -), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
        )
    return repository


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        why = (
            "tags are separated by commas or newlines"
            if " " in tag.strip()
            else ("1-128 letters, digits, _ . - and not starting with . or -")
        )
        raise UsageError(f"invalid tag {tag[:200]!r}: {why}")
    return tag


def check_reference(reference: str) -> str:
    """`repository:tag` (the --tag of `soci-ci build`)."""
    repository, tag = split_tag(reference)
    check_repository(repository)
    check_tag(tag)
    return reference


_SECRET_KEYS = frozenset({"id", "env", "src", "type"})


def check_secret(spec: str) -> str:
    """A buildx `--secret` spec naming where the value is (never the value itself)."""
    fields = dict(part.partition("=")[::2] for part in spec.split(","))
    if (
        not fields.get("id")
        or not set(fields) <= _SECRET_KEYS
        or not (fields.get("env") or fields.get("src"))
    ):
        raise UsageError(
            "--secret must be id=ID,env=VARIABLE or id=ID,src=FILE (got keys: "
            f"{', '.join(sorted(k[:20] for k in fields)) or 'none'})",
            hint="the value is read by buildx from the variable or file, never from the flag",
        )
    return spec

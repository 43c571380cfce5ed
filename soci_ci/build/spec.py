"""What to build (pure): parsed from the command line or the config file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from soci_ci.errors import UsageError


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
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"

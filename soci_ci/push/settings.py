"""The Lambda's settings, from its environment variables (set by whoever deploys it: trusted).

Every variable is optional; README, "Org-wide indexing on ECR push", lists them. Bad values
are a UsageError naming the variable, raised at the first invocation (a deploy mistake shows
in the first log line, not as a crash).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from soci_ci.errors import UsageError
from soci_ci.soci import constants as c
from soci_ci.soci.index_manifest import IndexFormat

PREFIX = "SOCI_CI_"
DEFAULT_SUFFIX = "-soci"
DEFAULT_MARGIN_SECONDS = 20.0
DEFAULT_NAMESPACE = "soci-ci"
_SUFFIX = re.compile(r"-[A-Za-z0-9_.-]{1,40}")
E = TypeVar("E", bound=StrEnum)


class Untagged(StrEnum):
    """What an untagged (digest-only) push gets."""

    SKIP = "skip"  # the default: a multi-platform push sends its child manifests untagged
    INDEX = "index"  # index it by digest; the SOCI-enabled image is tagged sha256-<12 hex>-soci


@dataclass(frozen=True, slots=True, kw_only=True)
class PushSettings:
    repositories: tuple[str, ...] = ("*",)  # globs on the repository name ('*' crosses '/')
    tags: tuple[str, ...] = ("*",)  # globs on the pushed tag
    exclude_tags: tuple[str, ...] = ()
    untagged: Untagged = Untagged.SKIP
    suffix: str = DEFAULT_SUFFIX  # the SOCI-enabled image's tag is <tag><suffix>
    index_format: IndexFormat = IndexFormat.V2
    span_size: int = c.DEFAULT_SPAN_SIZE
    min_layer_size: int = c.DEFAULT_MIN_LAYER_SIZE
    build_tool_identifier: str = c.DEFAULT_BUILD_TOOL
    optimize_xattrs: bool = False
    workers: int | None = None
    deadline_margin: float = DEFAULT_MARGIN_SECONDS  # seconds kept for writing and reporting
    registry_host: str | None = None  # talk to this host instead of the event's ECR host
    metrics_namespace: str = DEFAULT_NAMESPACE


def _globs(raw: str, name: str) -> tuple[str, ...]:
    items = tuple(p for p in re.split(r"[,\s]+", raw.strip()) if p)
    if any(len(p) > 256 for p in items) or len(items) > 100:
        raise UsageError(f"{name}: at most 100 patterns of at most 256 characters")
    return items


def _int(raw: str, name: str, *, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be an integer, not {raw[:40]!r}") from None
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}, not {value}")
    return value


def _choice(raw: str, name: str, enum: type[E]) -> E:
    try:
        return enum(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise UsageError(f"{name} must be one of {allowed}, not {raw[:40]!r}") from None


def settings_from_env(env: Mapping[str, str]) -> PushSettings:
    """Parse the SOCI_CI_* variables the Lambda uses; unset or empty ones keep the default."""

    def get(key: str) -> str | None:
        value = env.get(PREFIX + key, "").strip()
        return value or None

    s = PushSettings()
    if (raw := get("REPOSITORIES")) is not None:
        s = replace(s, repositories=_globs(raw, PREFIX + "REPOSITORIES"))
    if (raw := get("TAG_PATTERNS")) is not None:
        s = replace(s, tags=_globs(raw, PREFIX + "TAG_PATTERNS"))
    if (raw := get("EXCLUDE_TAG_PATTERNS")) is not None:
        s = replace(s, exclude_tags=_globs(raw, PREFIX + "EXCLUDE_TAG_PATTERNS"))
    if (raw := get("UNTAGGED")) is not None:
        s = replace(s, untagged=_choice(raw, PREFIX + "UNTAGGED", Untagged))
    if (raw := get("SOCI_TAG_SUFFIX")) is not None:
        if not _SUFFIX.fullmatch(raw):
            raise UsageError(f"{PREFIX}SOCI_TAG_SUFFIX must look like -soci, not {raw[:40]!r}")
        s = replace(s, suffix=raw)
    if (raw := get("INDEX_FORMAT")) is not None:
        s = replace(s, index_format=_choice(raw, PREFIX + "INDEX_FORMAT", IndexFormat))
    if (raw := get("SPAN_SIZE")) is not None:
        s = replace(s, span_size=_int(raw, PREFIX + "SPAN_SIZE", minimum=1))
    if (raw := get("MIN_LAYER_SIZE")) is not None:
        s = replace(s, min_layer_size=_int(raw, PREFIX + "MIN_LAYER_SIZE", minimum=0))
    if (raw := get("BUILD_TOOL_IDENTIFIER")) is not None:
        s = replace(s, build_tool_identifier=raw[:256])
    if (raw := get("OPTIMIZATIONS")) is not None:
        chosen = set(_globs(raw, PREFIX + "OPTIMIZATIONS"))
        if chosen - {"xattr"}:
            raise UsageError(f"{PREFIX}OPTIMIZATIONS accepts only xattr")
        s = replace(s, optimize_xattrs="xattr" in chosen)
    if (raw := get("WORKERS")) is not None:
        s = replace(s, workers=_int(raw, PREFIX + "WORKERS", minimum=1))
    if (raw := get("DEADLINE_MARGIN_SECONDS")) is not None:
        s = replace(
            s, deadline_margin=float(_int(raw, PREFIX + "DEADLINE_MARGIN_SECONDS", minimum=1))
        )
    if (raw := get("LAMBDA_REGISTRY")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9.-]+(?::\d{1,5})?", raw):
            raise UsageError(f"{PREFIX}LAMBDA_REGISTRY must be host[:port], not {raw[:60]!r}")
        s = replace(s, registry_host=raw)
    if (raw := get("METRICS_NAMESPACE")) is not None:
        s = replace(s, metrics_namespace=raw[:255])
    return s

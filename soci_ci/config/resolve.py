"""Precedence in ONE place: flags / action inputs > environment (SOCI_CI_*) > file > defaults.

Overrides are dotted paths of the config (``probe.runs``); environment variables spell them
``SOCI_CI_PROBE_RUNS`` (section, underscore, key; values parsed as YAML scalars). The result
is validated again against the schema, and `Resolved.origin` tells where each override came
from (for ``--explain``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from soci_ci.config.loader import load_config_data, schema
from soci_ci.config.model import Config
from soci_ci.errors import ConfigError

ENV_PREFIX = "SOCI_CI_"


class Origin(StrEnum):
    DEFAULT = "default"
    FILE = "file"
    ENV = "environment"
    FLAG = "flag"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    config: Config
    origin: Mapping[str, Origin]  # dotted path -> where the value came from

    def explain(self) -> list[str]:
        return [
            f"{path} = {_get(self.config.data, path)!r} ({src})"
            for path, src in sorted(self.origin.items())
        ]


def _leaf_paths() -> dict[str, str]:
    """ENV name -> dotted path, for every non-object key of the schema (two levels deep)."""
    out: dict[str, str] = {}
    for section, sub in schema()["properties"].items():
        for key, leaf in sub.get("properties", {}).items():
            if leaf.get("type") != "object":
                out[f"{ENV_PREFIX}{section}_{key}".upper()] = f"{section}.{key}"
    return out


def _get(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {path}: {part} is not a mapping")
    node[last] = value


def resolve(
    file_data: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    name: str = "<config>",
) -> Resolved:
    """``file_data``: the raw file mapping; ``flags``: dotted path -> value (None = unset)."""
    data: dict[str, Any] = copy.deepcopy(dict(file_data)) or {"version": 1}
    origin: dict[str, Origin] = {}
    known = _leaf_paths()
    for var, path in known.items():
        if _get(data, path) is not None:
            origin[path] = Origin.FILE
        if var in env:
            try:
                value = yaml.safe_load(env[var])
            except yaml.YAMLError as exc:
                raise ConfigError(f"{var}: not a YAML scalar: {exc}") from exc
            _set(data, path, value)
            origin[path] = Origin.ENV
    for path, value in flags.items():
        if value is not None:
            _set(data, path, value)
            origin[path] = Origin.FLAG
    config = load_config_data(data, name=name)
    for path in known.values():
        origin.setdefault(path, Origin.DEFAULT)
    return Resolved(config=config, origin=origin)

"""Load `.soci-ci.yml`: YAML safe load, JSON Schema validation with file:line, defaults."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from soci_ci.config.model import Config
from soci_ci.errors import ConfigError


@cache
def schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file."""
    text = files("soci_ci.config").joinpath("schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_config(path: Path | str) -> Config:
    """Read, validate and complete a config file; raise `ConfigError` (one line, file:line)."""
    p = Path(path)
    return load_config_text(_read(p), name=str(p))


def read_config_data(path: Path | str) -> dict[str, Any]:
    """The file's own mapping, validated (errors with file:line) but without defaults.

    This is what `soci_ci.config.resolve.resolve` takes as its file layer.
    """
    p = Path(path)
    data, node = _parse(_read(p), name=str(p))
    _validate(data, node, str(p))
    return data


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def load_config_text(text: str, *, name: str = "<config>") -> Config:
    data, node = _parse(text, name=name)
    return load_config_data(data, name=name, node=node)


def _parse(text: str, *, name: str) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = (exc.problem or str(exc)).strip()
        raise ConfigError(f"{name}{line}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: the top level must be a mapping (version: 1, ...)")
    return data, node


def load_config_data(
    data: dict[str, Any], *, name: str = "<config>", node: yaml.Node | None = None
) -> Config:
    """Validate an already parsed mapping (``node`` gives line numbers) and apply defaults."""
    _validate(data, node, name)
    has_thresholds = "thresholds" in data
    completed = apply_defaults(schema(), copy.deepcopy(data))
    return Config(data=completed, has_thresholds=has_thresholds, source=name)


def _validate(data: dict[str, Any], node: yaml.Node | None, name: str) -> None:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - keep startup fast

    validator = Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(x) for x in e.absolute_path])
    if not errors:
        return
    err = errors[0]
    path = list(err.absolute_path)
    line = _line_of(node, path)
    where = format_path(path) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise ConfigError(f"{name}:{line}: {where}: {describe_error(err)}{more}")


def describe_error(err: Any) -> str:
    """One schema violation in words (unknown keys and enums listed)."""
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return f"unknown key {', '.join(map(repr, extra))}; allowed: {', '.join(allowed)}"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(repr, err.validator_value))}"
    return str(err.message)


def format_path(path: list[Any]) -> str:
    """`['probe', 'network', 'subnets', 0]` -> `probe.network.subnets[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, path: list[Any]) -> int:
    """1-based line of the deepest node on ``path`` that exists in the YAML."""
    line = 1 if node is None else node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if found is None or key is None:
                return line
            node, line = found, key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def apply_defaults(sch: Mapping[str, Any], value: Any) -> Any:
    """Fill the schema's ``default`` values into objects (recursively, arrays of objects too)."""
    if isinstance(value, dict):
        for key, sub in sch.get("properties", {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
    elif isinstance(value, list) and isinstance(sch.get("items"), Mapping):
        return [apply_defaults(sch["items"], v) for v in value]
    return value

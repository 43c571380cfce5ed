"""Precedence in ONE place: flags / action inputs > environment > file > defaults.

Every setting is a dotted path of the config (``probe.runs``, ``soci.verify.sample``); the
settable paths are the schema's keys that are not sections (`settable_paths`). The environment
spells a path ``SOCI_CI_`` + the path upper-cased, dots as ``_`` (``SOCI_CI_PROBE_RUNS``,
``SOCI_CI_SOCI_VERIFY_SAMPLE``). The names action.yml uses that do not follow this scheme
(``SOCI_CI_TAGS``, ``SOCI_CI_SOCI`` ...) are mapped in `ENV_ALIASES`, the one table of
exceptions; setting an alias and the scheme's name of the same key together is an error.

Text values (variables, action inputs) are parsed by the schema type of their key
(`parse_value`): strings verbatim; booleans strictly (true/false, yes/no, 1/0, on/off, any
case); arrays of strings split on commas and newlines, or a YAML flow list (``[a, b]``);
anything else as YAML. An empty value counts as unset (action.yml maps every empty input to
an empty variable). Each override is checked against its key's schema and an error names the
variable, input or flag that set it (`ConfigError`, exit code 2); the merged result is then
validated as a whole and completed with the defaults.

Only the variables named by `env_variables` are read: nothing else in the environment (tokens,
passwords) can reach the config or `Resolved.explain`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any

import yaml

from soci_ci.config.loader import describe_error, load_config_data, schema
from soci_ci.config.model import Config
from soci_ci.errors import ConfigError

ENV_PREFIX = "SOCI_CI_"

# action.yml's variable names that do not follow SOCI_CI_<SECTION>_<KEY> -> dotted path.
ENV_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "SOCI_CI_REPOSITORY": "image.repository",
        "SOCI_CI_CONTEXT": "image.context",
        "SOCI_CI_DOCKERFILE": "image.dockerfile",
        "SOCI_CI_TAGS": "image.tags",
        "SOCI_CI_SOCI": "soci.enabled",
        "SOCI_CI_VERIFY": "soci.verify.enabled",
        "SOCI_CI_PROBE": "probe.enabled",
        "SOCI_CI_COMMENT": "report.comment",
        "SOCI_CI_SUMMARY": "report.summary",
        "SOCI_CI_JUNIT_FILE": "report.junit",
    }
)

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_BOOL_HINT = "use true or false (also yes/no, 1/0, on/off)"


class Origin(StrEnum):
    DEFAULT = "default"
    FILE = "file"
    ENV = "environment"
    FLAG = "flag"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    config: Config  # validated, defaults applied
    origin: Mapping[str, Origin]  # every settable dotted path -> where its value came from

    def explain(self) -> list[str]:
        """``path = value (origin)`` for every setting, sorted; values as JSON."""
        return [
            f"{path} = {format_value(_get(self.config.data, path))} ({src})"
            for path, src in sorted(self.origin.items())
        ]


def format_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@cache
def settable_paths() -> Mapping[str, Mapping[str, Any]]:
    """Dotted path -> schema, for every key of the schema that is not a section.

    Sections are objects with ``properties`` (``probe``, ``probe.network``); free-form
    mappings (``image.build_args``) and arrays (``thresholds.absolute``) are settings.
    """
    out: dict[str, Mapping[str, Any]] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            if sub.get("type") == "object" and "properties" in sub:
                walk(f"{path}.", sub)
            elif path != "version":
                out[path] = sub

    walk("", schema())
    return MappingProxyType(out)


def env_name(path: str) -> str:
    """``probe.ready.timeout_seconds`` -> ``SOCI_CI_PROBE_READY_TIMEOUT_SECONDS``."""
    return ENV_PREFIX + path.replace(".", "_").upper()


@cache
def env_variables() -> Mapping[str, str]:
    """Every variable `resolve` reads -> its dotted path: the scheme's names and the aliases."""
    out = {env_name(path): path for path in settable_paths()}
    out.update(ENV_ALIASES)
    return MappingProxyType(out)


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if kind is None and "enum" in node:
        return {"string"} if all(isinstance(v, str) for v in node["enum"]) else set()
    return {kind} if isinstance(kind, str) else set(kind or ())


def parse_bool(text: str, *, where: str) -> bool:
    """A strict boolean: true/false, yes/no, 1/0, on/off, any case; ``where`` names the source."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{where}: {text!r} is not true or false", hint=_BOOL_HINT)


def parse_value(path: str, text: str, *, where: str) -> Any:
    """The value of setting ``path`` from a variable's or an input's text (see the docstring).

    ``where`` names the source in errors (``SOCI_CI_PROBE_RUNS``, ``input 'tags'``).
    """
    node = _schema_of(path, where=where)
    types = _types(node) - {"null"}
    text = text.strip()
    if types == {"boolean"}:
        return parse_bool(text, where=f"{where}: {path}")
    if types == {"string"}:
        return text
    items = node.get("items")
    strings = isinstance(items, Mapping) and _types(items) == {"string"}
    if "array" in types and strings and not text.startswith("["):
        return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: {path}: not valid YAML: {problem}", hint=_hint(where)) from exc


def check_value(path: str, value: Any, *, where: str) -> None:
    """Raise `ConfigError` naming ``where`` and ``path`` if ``value`` breaks the key's schema."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - keep startup fast

    validator = Draft202012Validator(_schema_of(path, where=where))
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(x) for x in e.absolute_path])
    if errors:
        err = errors[0]
        sub = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise ConfigError(f"{where}: {path}{sub}: {describe_error(err)}", hint=_hint(where))


def _hint(where: str) -> str:
    if where.startswith(ENV_PREFIX):
        return f"fix or unset {where}; docs/config.md lists the settings and their types"
    return "docs/config.md lists the settings and their types"


def _schema_of(path: str, *, where: str) -> Mapping[str, Any]:
    node = settable_paths().get(path)
    if node is None:
        raise ConfigError(f"{where}: unknown setting {path!r}")
    return node


def _has(data: Mapping[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


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


def env_overrides(env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """Dotted path -> (variable, parsed value) for every non-empty variable `resolve` reads."""
    out: dict[str, tuple[str, Any]] = {}
    for var, path in sorted(env_variables().items()):
        text = env.get(var, "").strip()
        if not text:
            continue
        if path in out:
            other = out[path][0]
            raise ConfigError(
                f"{other} and {var} both set {path}",
                hint="unset one of them (docs/config.md, Precedence)",
            )
        value = parse_value(path, text, where=var)
        check_value(path, value, where=var)
        out[path] = (var, value)
    return out


def resolve(
    file_data: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    name: str = "<config>",
) -> Resolved:
    """Merge defaults < ``file_data`` < ``env`` < ``flags`` and validate the result.

    ``file_data``: the file's own mapping (`read_config_data`), ``{}`` without a file;
    ``flags``: dotted path -> value, None = not given (action inputs belong here);
    ``labels``: dotted path -> how the user spelled the flag, for error messages.
    """
    data: dict[str, Any] = copy.deepcopy(dict(file_data)) or {"version": 1}
    origin = {
        path: Origin.FILE if _has(data, path) else Origin.DEFAULT for path in settable_paths()
    }
    for path, (_var, value) in env_overrides(env).items():
        _set(data, path, value)
        origin[path] = Origin.ENV
    for path, value in flags.items():
        if value is None:
            continue
        check_value(path, value, where=(labels or {}).get(path, "flag"))
        _set(data, path, value)
        origin[path] = Origin.FLAG
    config = load_config_data(copy.deepcopy(data), name=name)
    return Resolved(config=config, origin=MappingProxyType(origin))

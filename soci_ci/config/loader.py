"""Load `.soci-ci.yml`: bounded YAML, JSON Schema validation with exact lines, defaults.

A config file may come from a pull request, so it is read as hostile input: at most
`MAX_CONFIG_BYTES`, only a regular file, YAML parsed once with anchors and aliases refused
(no expansion bombs), nesting bounded (no recursion errors), keys must be unique strings. Schema
violations are collected (up to `MAX_CONFIG_PROBLEMS`, values shortened), each with the line
of the offending key itself, and raised as one `ConfigError` whose ``problems`` list them.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from soci_ci.config.model import Config
from soci_ci.errors import ConfigError, ConfigProblem
from soci_ci.limits import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_NODES,
    MAX_CONFIG_PROBLEMS,
    MAX_CONFIG_VALUE_CHARS,
)

_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_SCAN_ERRORS = 1000  # schema errors looked at (sorted by line, the first few are shown)


@cache
def schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file."""
    text = files("soci_ci.config").joinpath("schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedConfig:
    """A config file's own mapping (no defaults) and its YAML node tree (for lines)."""

    data: dict[str, Any]
    node: yaml.Node | None
    name: str


def load_config(path: Path | str, *, name: str | None = None) -> Config:
    """Read, validate and complete a config file; raise `ConfigError` (file:line, problems)."""
    parsed = read_config(path, name=name)
    return load_config_data(parsed.data, name=parsed.name, node=parsed.node)


def read_config(path: Path | str, *, name: str | None = None) -> ParsedConfig:
    """The file parsed and validated, without defaults; ``name`` is how errors call it."""
    p = Path(path)
    label = name or str(p)
    parsed = parse_config(read_config_bytes(p, name=label), name=label)
    validate(parsed.data, node=parsed.node, name=label)
    return parsed


def read_config_data(path: Path | str, *, name: str | None = None) -> dict[str, Any]:
    """The file's own mapping, validated (errors with file:line) but without defaults.

    This is what `soci_ci.config.resolve.resolve` takes as its file layer.
    """
    return read_config(path, name=name).data


def read_config_bytes(path: Path, *, name: str) -> bytes:
    """At most `MAX_CONFIG_BYTES` of a regular file (a FIFO or device is refused unopened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _error(name, None, "", f"cannot read the config file: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _error(name, None, "", "the config file is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    _check_size(data, name)
    return data


def _check_size(data: bytes | str, name: str) -> None:
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_CONFIG_BYTES:
        raise _error(name, None, "", f"the config file is larger than {MAX_CONFIG_BYTES} bytes")


def _error(name: str, line: int | None, path: str, message: str) -> ConfigError:
    problem = ConfigProblem(file=name, line=line, path=path, message=message)
    return ConfigError(str(problem), problems=(problem,))


def load_config_text(text: str, *, name: str = "<config>") -> Config:
    parsed = parse_config(text, name=name)
    return load_config_data(parsed.data, name=name, node=parsed.node)


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases and bounds depth and node count while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        # `[[[[...` is refused at the scanner: PyYAML's simple-key bookkeeping is quadratic in
        # the flow depth, and the composer would only see the depth after scanning ahead.
        if self.flow_level >= MAX_CONFIG_DEPTH:
            raise _Refused(self.line + 1, f"nested deeper than {MAX_CONFIG_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(line, "YAML aliases (*name) are not allowed in a config file")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(line, "YAML anchors (&name) are not allowed in a config file")
        self._nodes += 1
        if self._nodes > MAX_CONFIG_NODES:
            raise _Refused(line, f"more than {MAX_CONFIG_NODES} YAML nodes")
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise _Refused(line, f"nested deeper than {MAX_CONFIG_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def parse_config(text: str | bytes, *, name: str) -> ParsedConfig:
    """Parse once (bounded, see the module docstring); the top level must be a mapping."""
    _check_size(text, name)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _error(name, None, "", f"the config file is not UTF-8 ({exc.reason})") from None
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_keys(node, name)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise _error(name, exc.line, "", exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join((exc.problem or exc.context or "syntax error").split())
        raise _error(name, line, "", f"invalid YAML: {_short_text(problem, 200)}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        raise _error(name, None, "", f"invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _error(name, 1, "", "the top level must be a mapping (version: 1, ...)")
    return ParsedConfig(data=data, node=node, name=name)


def _check_keys(root: yaml.Node, name: str) -> None:
    """Mapping keys are plain strings, each once (iterative: depth is already bounded)."""
    problems: list[ConfigProblem] = []
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack and len(problems) < MAX_CONFIG_PROBLEMS:
        node, where = stack.pop()
        if isinstance(node, yaml.ScalarNode) and node.tag == _FLOAT_TAG:
            if node.value.lower().lstrip("+-") in {".nan", ".inf"}:
                line = node.start_mark.line + 1
                message = "numbers must be finite (no .nan or .inf)"
                problems.append(ConfigProblem(file=name, line=line, path=where, message=message))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                line = key.start_mark.line + 1
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
                    problems.append(
                        ConfigProblem(file=name, line=line, path=where, message="keys must be text")
                    )
                    continue
                path = f"{where}.{key.value}" if where else str(key.value)
                if key.value in seen:
                    problems.append(
                        ConfigProblem(
                            file=name, line=line, path=_short_text(path), message="duplicate key"
                        )
                    )
                seen.add(key.value)
                stack.append((value, path))
    if problems:
        _raise(sorted(problems, key=lambda p: p.line or 0), total=len(problems))


def load_config_data(
    data: dict[str, Any], *, name: str = "<config>", node: yaml.Node | None = None
) -> Config:
    """Validate an already parsed mapping (``node`` gives line numbers) and apply defaults."""
    validate(data, node=node, name=name)
    has_thresholds = "thresholds" in data
    completed = apply_defaults(schema(), copy.deepcopy(data))
    return Config(data=completed, has_thresholds=has_thresholds, source=name)


def validate(data: Mapping[str, Any], *, node: yaml.Node | None, name: str) -> None:
    """Raise one `ConfigError` listing every schema problem (up to the limit) with its line."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - keep startup fast

    validator = Draft202012Validator(schema())
    errors = list(islice(validator.iter_errors(data), _SCAN_ERRORS))
    if not errors:
        return
    problems = [p for err in errors for p in _problems(err, node, name)]
    problems.sort(key=lambda p: (p.line or 0, p.path))
    _raise(problems, total=len(problems))


def _raise(problems: list[ConfigProblem], *, total: int) -> None:
    shown = tuple(problems[:MAX_CONFIG_PROBLEMS])
    more = f" (and {total - 1} more)" if total > 1 else ""
    raise ConfigError(f"{shown[0]}{more}", problems=shown)


def _problems(err: Any, node: yaml.Node | None, name: str) -> Iterator[ConfigProblem]:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = sorted(err.schema.get("properties", {}))
        for extra in sorted(set(map(str, err.instance)) - set(allowed)):
            yield ConfigProblem(
                file=name,
                line=_line_of(node, [*path, extra]),
                path=_short_text(format_path(path)) or "(top level)",
                message=f"unknown key {_short_text(repr(extra), 60)}; allowed: "
                + ", ".join(allowed),
            )
        return
    yield ConfigProblem(
        file=name,
        line=_line_of(node, path),
        path=_short_text(format_path(path)) or "(top level)",
        message=describe_error(err),
    )


def short_value(value: Any, limit: int = MAX_CONFIG_VALUE_CHARS) -> str:
    """A value as JSON-ish text, cut to ``limit`` characters (huge values never rendered)."""
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, str):
        return _short_text(repr(value[: limit + 1]), limit)
    return _short_text(repr(value), limit)


def _short_text(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_error(err: Any) -> str:
    """One schema violation in words: jsonschema's own message for small values, a shortened
    description for big ones (a huge value is never rendered); unknown keys and enums listed."""
    kind, expected, value = err.validator, err.validator_value, err.instance
    if kind == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(map(str, value)) - set(allowed)) if isinstance(value, Mapping) else []
        names = ", ".join(_short_text(repr(e), 60) for e in extra[:5])
        return f"unknown key {names}; allowed: {', '.join(allowed)}"
    if kind == "enum":
        return f"{short_value(value)} is not one of {', '.join(map(repr, expected))}"
    small = not isinstance(value, Mapping | list | tuple) and (
        len(repr(value)) <= MAX_CONFIG_VALUE_CHARS
    )
    if small:
        return _short_text(" ".join(str(err.message).split()))
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"{short_value(value)} is not of type {', '.join(map(repr, types))}"
    if kind == "required":
        missing = [k for k in expected if isinstance(value, Mapping) and k not in value]
        return f"{', '.join(map(repr, missing)) or repr(expected)} is a required property"
    return f"{short_value(value)} breaks {kind} {_short_text(repr(expected), 80)}"


def format_path(path: list[Any]) -> str:
    """`['probe', 'network', 'subnets', 0]` -> `probe.network.subnets[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the key (or list item) at the end of ``path``, else its deepest parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if pair is None:
                return line
            node, line = pair[1], pair[0].start_mark.line + 1
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

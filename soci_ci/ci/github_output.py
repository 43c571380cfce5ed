"""GitHub Actions file commands and workflow commands.

Rendering is pure (``format_output``, ``format_command``); ``append_file`` is the only I/O.
Outputs use ``name<<DELIMITER`` blocks with a random delimiter that is checked not to occur in
the value, so any text (Markdown, JSON, newlines) is safe.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path

from soci_ci.errors import ConfigProblem, UsageError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


def _random_delimiter() -> str:
    return f"ghadelimiter_{secrets.token_hex(16)}"


def format_output(
    name: str, value: str, *, delimiter: Callable[[], str] = _random_delimiter
) -> str:
    """One ``$GITHUB_OUTPUT`` entry (multiline-safe)."""
    if not _NAME.match(name):
        raise UsageError(f"invalid output name {name!r}")
    delim = delimiter()
    if delim in value or delim in name:
        raise UsageError("output value contains its delimiter; retry")
    return f"{name}<<{delim}\n{value}\n{delim}\n"


def format_outputs(
    values: Mapping[str, str], *, delimiter: Callable[[], str] = _random_delimiter
) -> str:
    return "".join(format_output(k, v, delimiter=delimiter) for k, v in values.items())


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_command(
    command: str, message: str, properties: Mapping[str, str | int] | None = None
) -> str:
    """``::command k=v,...::message`` with the toolkit's escaping (no trailing newline)."""
    props = ""
    if properties:
        props = " " + ",".join(
            f"{key}={escape_property(str(value))}" for key, value in properties.items()
        )
    return f"::{command}{props}::{escape_data(message)}"


def format_annotation(
    level: Level, message: str, *, title: str | None = None, file: str | None = None
) -> str:
    properties: dict[str, str | int] = {}
    if file:
        properties["file"] = file
    if title:
        properties["title"] = title
    return format_command(str(level), message, properties)


def config_annotations(problems: Iterable[ConfigProblem]) -> list[str]:
    """One ``::error file=<repo path>,line=N,title=...::key: message`` per config problem."""
    lines = []
    for problem in problems:
        properties: dict[str, str | int] = {"file": problem.file}
        if problem.line is not None:
            properties["line"] = problem.line
        properties["title"] = "soci-ci: invalid config"
        text = f"{problem.path}: {problem.message}" if problem.path else problem.message
        lines.append(format_command("error", text, properties))
    return lines


def format_mask(value: str) -> list[str]:
    """``::add-mask::`` lines for a secret (one per non-empty line of it)."""
    return [f"::add-mask::{escape_data(line)}" for line in value.splitlines() if line.strip()]


def append_file(path: str | Path, text: str) -> None:
    """Append to a runner file command (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``)."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(text)

"""Untrusted text on stdout/stderr must never become a GitHub workflow command.

The runner reads every line a step prints: a line that starts with ``::`` after leading
whitespace (``::error``, ``::add-mask::``, ``::stop-commands::``) is a command, and so is the
older ``##[command]`` form. Text from an image, a registry, a pull request or an API answer
(a manifest ``mediaType`` with a newline, a branch name, a build log) goes through one of:

- `neutralize`: every line keeps its visible text but cannot start a command (a zero-width
  space is put between the colons of a leading ``::`` and into every ``##[``);
- `prefix_lines`: every line of a block (a build log) prefixed, then neutralised;
- `paused_commands`: GitHub's ``::stop-commands::<random token>`` ... ``::<token>::`` around a
  block, the token checked not to occur in it.

`CommandSafeFormatter` applies `neutralize` to every log record, so all logging is safe.
Commands soci-ci means to send (annotations, masks) are written with
`soci_ci.ci.github_output`, never through these functions.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import TextIO

ZWSP = "\u200b"
# A line starts at the text's start or after CR or LF (the runner reads lines like .NET's
# ReadLine); leading whitespace is skipped by the runner, so it is skipped here too.
_LEADING = re.compile(r"(\A|[\r\n])([^\S\r\n]*):(?=:)")
_V1 = "##["


def neutralize(text: str) -> str:
    """``text`` with no line able to start a workflow command (visible text unchanged)."""
    if "::" not in text and _V1 not in text:
        return text
    inert = _LEADING.sub(lambda m: m.group(1) + m.group(2) + ":" + ZWSP, text)
    return inert.replace(_V1, "##" + ZWSP + "[")


def one_line(text: str, *, limit: int = 500) -> str:
    """Untrusted text as one safe line: whitespace runs (newlines too) become one space."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return neutralize(flat)


def prefix_lines(text: str, prefix: str = "| ") -> str:
    """Every line of ``text`` (CR, LF and the other line breaks) prefixed, then neutralised."""
    lines = text.splitlines() or [""]
    return "\n".join(neutralize(prefix + line) for line in lines)


def _token(avoid: str) -> str:
    while True:
        token = secrets.token_hex(16)
        if token not in avoid:
            return token


@contextlib.contextmanager
def paused_commands(stream: TextIO, *, avoid: str = "") -> Iterator[str]:
    """Stop command processing on ``stream`` for the block; yields the token (never printed
    by the block: pass the block's text as ``avoid`` when it is known up front)."""
    token = _token(avoid)
    stream.write(f"::stop-commands::{token}\n")
    try:
        yield token
    finally:
        stream.write(f"::{token}::\n")
        stream.flush()


def write_untrusted(stream: TextIO, lines: Iterable[str], *, prefix: str = "") -> None:
    """A block of untrusted lines between stop-commands markers, each line also neutralised."""
    items = [neutralize(prefix + line) for text in lines for line in (text.splitlines() or [""])]
    with paused_commands(stream, avoid="\n".join(items)):
        for line in items:
            stream.write(line + "\n")


class CommandSafeFormatter(logging.Formatter):
    """A log formatter whose output (message, arguments, traceback) cannot issue commands."""

    def format(self, record: logging.LogRecord) -> str:
        return neutralize(super().format(record))

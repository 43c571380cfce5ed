"""Regular expressions written by users (config files, flags) run on RE2.

A pattern from a pull request's config is untrusted: Python's `re` backtracks, so `^(a+)+$`
against a long log line takes exponential time. RE2 matches in time linear in the input and
rejects what it cannot match that way (backreferences, lookaround) with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

from soci_ci.errors import ConfigError

MAX_PATTERN_CHARS = 1000
# RE2's own memory budget for one compiled pattern (its default is 8 MiB).
MAX_PROGRAM_BYTES = 8 << 20


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    return options


@dataclass(frozen=True, slots=True)
class UserRegex:
    """A compiled user pattern; `search` answers whether it matches anywhere in `text`."""

    pattern: str
    _compiled: Any = field(repr=False, compare=False)

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


def compile_user_regex(pattern: str, *, key: str) -> UserRegex:
    """Compile `pattern` (named by its config key or flag in errors) or raise ConfigError."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ConfigError(f"{key}: the pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        first = exc.args[0] if exc.args else exc
        reason = first.decode(errors="replace") if isinstance(first, bytes) else str(first)
        raise ConfigError(
            f"{key}: not a supported regular expression ({reason[:200]}); "
            "backreferences and lookaround are not supported (RE2 syntax)"
        ) from None
    return UserRegex(pattern=pattern, _compiled=compiled)

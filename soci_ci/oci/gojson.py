"""JSON bytes exactly as Go's `encoding/json.Marshal` writes them.

Compact (no whitespace), struct fields in declaration order (callers build the ordered
pairs), map keys sorted bytewise, and Go's HTML-safe string escaping: `<`, `>`, `&` become
`\\u003c`, `\\u003e`, `\\u0026`; U+2028/U+2029 are escaped; control characters use `\\b \\f \\n
\\r \\t` or `\\u00xx`; invalid UTF-8 (surrogate-escaped bytes) becomes U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ESCAPE = re.compile('[\\x00-\\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')
_NAMED = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}

JSONValue = Any  # None | bool | int | str | list | Mapping[str, ...] | Ordered | NULL


class _GoNil:
    """A nil slice/map in a field without `omitempty`: written as `null`, never omitted."""

    __slots__ = ()


NULL = _GoNil()


class Ordered:
    """A Go struct: fields in declaration order; `None` values are omitted (omitempty)."""

    __slots__ = ("fields",)

    def __init__(self, *fields: tuple[str, JSONValue]) -> None:
        self.fields = fields


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    if "\udc80" <= c <= "\udcff":
        return "\ufffd"
    return f"\\u{ord(c):04x}"


def _string(s: str) -> str:
    return '"' + _ESCAPE.sub(_escape_char, s) + '"'


def _encode(value: JSONValue, out: list[str]) -> None:
    if value is None or isinstance(value, _GoNil):
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Ordered):
        out.append("{")
        first = True
        for key, item in value.fields:
            if item is None:
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Mapping):
        out.append("{")
        keys = sorted(value, key=lambda k: k.encode("utf-8", "surrogateescape"))
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")


def marshal(value: JSONValue) -> bytes:
    """Go `json.Marshal(value)`."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")

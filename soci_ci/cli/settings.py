"""Flags of the single commands as config keys: one set of defaults and checks (the schema).

`soci-ci index --span-size 0` fails like ``soci.span_size: 0`` in the file does, naming the
flag; a flag that is not given takes the schema's default, as `soci-ci run` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soci_ci.config.model import Config


def config_from_flags(flags: Mapping[str, tuple[str, Any]]) -> Config:
    """``{dotted path: (flag spelling, value or None)}`` -> the config with those values."""
    from soci_ci.config.resolve import resolve  # noqa: PLC0415 - jsonschema lazily

    given = {path: value for path, (_, value) in flags.items() if value is not None}
    labels = {path: label for path, (label, _) in flags.items()}
    return resolve({}, env={}, flags=given, labels=labels, name="<flags>").config

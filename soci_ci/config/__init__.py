"""The `.soci-ci.yml` config file: schema, loader, typed model, precedence."""

from __future__ import annotations

from soci_ci.config.loader import load_config, load_config_text
from soci_ci.config.model import AbsoluteLimit, Config, Regression, Thresholds

__all__ = [
    "AbsoluteLimit",
    "Config",
    "Regression",
    "Thresholds",
    "load_config",
    "load_config_text",
]

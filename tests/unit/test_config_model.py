"""The typed config and the schema agree: every field is a schema key and the other way round,
and every default comes from the schema (the classes carry none of their own)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from soci_ci.app.index_model import IndexOptions
from soci_ci.app.options import DEFAULT_POLL_SECONDS, index_options
from soci_ci.config import load_config_text
from soci_ci.config.loader import schema
from soci_ci.config.model import (
    BaselineConfig,
    ImageConfig,
    ProbeConfig,
    ReportConfig,
    SociConfig,
    VerifyConfig,
)
from soci_ci.probe.settings import ProbeSettings

SECTIONS: list[tuple[tuple[str, ...], type[Any]]] = [
    (("image",), ImageConfig),
    (("soci",), SociConfig),
    (("soci", "verify"), VerifyConfig),
    (("baseline",), BaselineConfig),
    (("report",), ReportConfig),
]


def _node(path: tuple[str, ...]) -> Mapping[str, Any]:
    node: Mapping[str, Any] = schema()
    for key in path:
        node = node["properties"][key]
    return node


@pytest.mark.parametrize(("path", "cls"), SECTIONS, ids=[".".join(p) for p, _ in SECTIONS])
def test_section_fields_are_the_schema_keys_without_defaults(
    path: tuple[str, ...], cls: type[Any]
) -> None:
    fields = dataclasses.fields(cls)
    assert {f.name for f in fields} == set(_node(path)["properties"])
    assert all(f.default is dataclasses.MISSING for f in fields)
    assert all("default" in sub for sub in _node(path)["properties"].values())


def test_probe_keys_are_the_settings_plus_enabled_and_poll() -> None:
    settings = {f.name for f in dataclasses.fields(ProbeSettings)}
    assert set(_node(("probe",))["properties"]) == settings | {"enabled", "poll_seconds"}
    assert {f.name for f in dataclasses.fields(ProbeConfig)} == {
        "enabled",
        "poll_seconds",
        "settings",
    }


def test_defaults_of_other_classes_match_the_schema() -> None:
    """IndexOptions and ProbeSettings keep defaults for the library API: they must agree."""
    config = load_config_text("version: 1\n")
    assert config.probe.settings == ProbeSettings()
    assert config.probe.poll_seconds == DEFAULT_POLL_SECONDS
    defaults = index_options(config.soci)
    assert dataclasses.replace(defaults, workers=1) == dataclasses.replace(
        IndexOptions(), workers=1
    )

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from soci_ci.config import load_config, load_config_text
from soci_ci.config.loader import format_path, schema
from soci_ci.errors import ConfigError
from soci_ci.probe.model import ArmName, Phase

ROOT = Path(__file__).resolve().parents[2]


def test_schema_is_valid_draft_2020_12() -> None:
    data = json.loads((ROOT / "soci_ci/config/schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(data)
    assert data["$id"]
    assert data["additionalProperties"] is False


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "examples/soci-ci.yml")
    assert config.data["version"] == 1


def test_defaults_applied() -> None:
    config = load_config_text("version: 1\n")
    assert config.probe["runs"] == 5
    assert config.probe["network"] == {
        "subnets": [],
        "security_groups": [],
        "assign_public_ip": True,
    }
    assert config.soci["verify"] == {"enabled": True, "sample": 200}
    assert config.has_thresholds is False
    assert config.thresholds.regression.confidence == 0.95


def test_thresholds_typed() -> None:
    text = "version: 1\nthresholds:\n  absolute:\n    - {phase: pull, stat: p90, max_seconds: 7}\n"
    limit = load_config_text(text).thresholds.absolute[0]
    assert (limit.phase, limit.stat, limit.arm, limit.max_seconds) == (
        Phase.PULL,
        "p90",
        ArmName.SOCI,
        7.0,
    )


def test_schema_error_names_path_and_line() -> None:
    text = "version: 1\nprobe:\n  network:\n    subnets:\n      - nope\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, name="c.yml")
    assert str(info.value) == (
        "c.yml:5: probe.network.subnets[0]: 'nope' does not match '^subnet-[0-9a-f]+$'"
    )


def test_unknown_key_is_an_error_listing_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("version: 1\nreport:\n  comentt: true\n", name="c.yml")
    assert str(info.value) == (
        "c.yml:3: report: unknown key 'comentt'; allowed: chart, comment, junit, summary"
    )


def test_enum_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("version: 1\nsoci:\n  format: v3\n", name="c.yml")
    assert str(info.value) == "c.yml:3: soci.format: 'v3' is not one of 'v2', 'v1'"


def test_invalid_yaml_one_line_with_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("version: 1\nprobe: {runs: [\n", name="c.yml")
    message = str(info.value)
    assert message.startswith("c.yml:3: invalid YAML: ")
    assert "\n" not in message


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^c.yml:1: the top level must be a mapping"):
        load_config_text("- 1\n", name="c.yml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yml")


def test_format_path() -> None:
    assert format_path(["probe", "network", "subnets", 0]) == "probe.network.subnets[0]"
    assert format_path([]) == ""


def test_schema_cached() -> None:
    assert schema() is schema()

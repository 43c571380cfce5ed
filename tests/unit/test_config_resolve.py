"""`soci_ci.config.resolve`: flags > environment > file > defaults, in one place."""

from __future__ import annotations

from typing import Any

import pytest

from soci_ci.config.resolve import (
    ENV_ALIASES,
    Origin,
    env_name,
    env_variables,
    parse_value,
    resolve,
    settable_paths,
)
from soci_ci.errors import ConfigError, ExitCode

FILE = {"version": 1, "probe": {"runs": 3, "cluster": "file-cluster"}}


def test_flags_beat_env_beat_file_beat_defaults() -> None:
    env = {"SOCI_CI_PROBE_RUNS": "7", "SOCI_CI_PROBE_CLUSTER": "env-cluster"}
    got = resolve(FILE, env=env, flags={"probe.cluster": "flag-cluster", "probe.region": None})
    probe = got.config.probe.settings
    assert (probe.runs, probe.cluster, probe.concurrency) == (7, "flag-cluster", 4)
    assert got.origin["probe.runs"] is Origin.ENV
    assert got.origin["probe.cluster"] is Origin.FLAG
    assert got.origin["probe.concurrency"] is Origin.DEFAULT
    assert got.origin["probe.region"] is Origin.DEFAULT  # None = flag not given
    assert "probe.runs = 7 (environment)" in got.explain()


# (dotted path, file value, variable, its text, parsed, flag value)
LAYERS: list[tuple[str, Any, str, str, Any, Any]] = [
    ("probe.runs", 3, "SOCI_CI_PROBE_RUNS", "7", 7, 9),
    ("image.tags", ["file"], "SOCI_CI_TAGS", "a, b\nc", ["a", "b", "c"], ["flag"]),
    ("image.tags", ["file"], "SOCI_CI_IMAGE_TAGS", "[x, y]", ["x", "y"], ["flag"]),
    ("soci.verify.sample", 20, "SOCI_CI_SOCI_VERIFY_SAMPLE", "30", 30, 40),
    ("soci.verify.enabled", False, "SOCI_CI_VERIFY", "yes", True, False),
    ("report.comment", False, "SOCI_CI_COMMENT", "TRUE", True, False),
    ("probe.cpu", "512", "SOCI_CI_PROBE_CPU", "1024", "1024", "2048"),
    ("image.repository", "file/repo", "SOCI_CI_REPOSITORY", "env/repo", "env/repo", "flag/r"),
    (
        "probe.network.subnets",
        ["subnet-1"],
        "SOCI_CI_PROBE_NETWORK_SUBNETS",
        "subnet-2",
        None,
        None,
    ),
]


def _file_with(path: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"version": 1}
    node = data
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def _value(resolved: Any, path: str) -> Any:
    node = resolved.config.data
    for part in path.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize(("path", "file", "var", "text", "parsed", "flag"), LAYERS)
def test_each_layer_beats_the_one_below(
    path: str, file: Any, var: str, text: str, parsed: Any, flag: Any
) -> None:
    parsed = [text] if parsed is None else parsed
    flag = ["subnet-f"] if flag is None else flag
    default = resolve({}, env={}, flags={})
    assert default.origin[path] is Origin.DEFAULT
    from_file = resolve(_file_with(path, file), env={}, flags={})
    assert (_value(from_file, path), from_file.origin[path]) == (file, Origin.FILE)
    from_env = resolve(_file_with(path, file), env={var: text}, flags={})
    assert (_value(from_env, path), from_env.origin[path]) == (parsed, Origin.ENV)
    from_flag = resolve(_file_with(path, file), env={var: text}, flags={path: flag})
    assert (_value(from_flag, path), from_flag.origin[path]) == (flag, Origin.FLAG)


def test_empty_variables_are_unset() -> None:
    """action.yml maps an empty input to an empty variable: the file must still count."""
    got = resolve(FILE, env={"SOCI_CI_PROBE_RUNS": "", "SOCI_CI_PROBE": "  "}, flags={})
    assert (got.config.probe.settings.runs, got.origin["probe.runs"]) == (3, Origin.FILE)
    assert (got.config.probe.enabled, got.origin["probe.enabled"]) == (False, Origin.DEFAULT)


def test_file_value_kept_without_overrides() -> None:
    got = resolve(FILE, env={}, flags={})
    assert got.config.probe.settings.runs == 3
    assert got.origin["probe.runs"] is Origin.FILE


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"probe.runs: 0 is less than the minimum of 1"):
        resolve(FILE, env={"SOCI_CI_PROBE_RUNS": "0"}, flags={})


def test_a_bad_variable_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(FILE, env={"SOCI_CI_PROBE_RUNS": "abc"}, flags={})
    assert str(info.value) == "SOCI_CI_PROBE_RUNS: probe.runs: 'abc' is not of type 'integer'"
    assert info.value.exit_code is ExitCode.USAGE
    assert "SOCI_CI_PROBE_RUNS" in info.value.hint
    with pytest.raises(ConfigError, match=r"^SOCI_CI_SOCI: soci.enabled: 'maybe' is not true"):
        resolve({}, env={"SOCI_CI_SOCI": "maybe"}, flags={})
    with pytest.raises(ConfigError, match=r"^SOCI_CI_SOCI_FORMAT: soci.format: 'v3' is not one"):
        resolve({}, env={"SOCI_CI_SOCI_FORMAT": "v3"}, flags={})
    with pytest.raises(ConfigError, match=r"^SOCI_CI_PROBE_NETWORK_SUBNETS: .*subnets\[1\]"):
        resolve({}, env={"SOCI_CI_PROBE_NETWORK_SUBNETS": "subnet-1,nope"}, flags={})


def test_a_bad_flag_is_named_by_its_label() -> None:
    with pytest.raises(
        ConfigError, match=r"^input 'tags': image.tags\[0\]: '' should be non-empty"
    ):
        resolve({}, env={}, flags={"image.tags": [""]}, labels={"image.tags": "input 'tags'"})
    with pytest.raises(ConfigError, match=r"^flag: unknown setting 'image.nope'"):
        resolve({}, env={}, flags={"image.nope": 1})


def test_an_alias_and_its_scheme_name_together_are_an_error() -> None:
    with pytest.raises(ConfigError, match="SOCI_CI_IMAGE_TAGS and SOCI_CI_TAGS both set"):
        resolve({}, env={"SOCI_CI_TAGS": "a", "SOCI_CI_IMAGE_TAGS": "b"}, flags={})


def test_every_variable_names_one_setting() -> None:
    paths = settable_paths()
    generated = {env_name(p) for p in paths}
    assert len(generated) == len(paths)
    assert not generated & set(ENV_ALIASES)
    assert set(ENV_ALIASES.values()) <= set(paths)
    assert env_variables()["SOCI_CI_PROBE_READY_TIMEOUT_SECONDS"] == "probe.ready.timeout_seconds"
    assert env_variables()["SOCI_CI_VERIFY"] == "soci.verify.enabled"
    assert "version" not in paths
    assert "probe.network" not in paths  # a section, not a setting
    assert "image.build_args" in paths  # a free-form mapping is one setting


def test_values_are_parsed_by_their_schema_type() -> None:
    assert parse_value("probe.cpu", "1024", where="x") == "1024"
    assert parse_value("probe.region", "null", where="x") == "null"
    assert parse_value("probe.concurrency", "8", where="x") == 8
    assert parse_value("probe.enabled", "On", where="x") is True
    assert parse_value("probe.command", "[sh, -c, 'echo a, b']", where="x") == [
        "sh",
        "-c",
        "echo a, b",
    ]
    assert parse_value("image.build_args", "{A: '1'}", where="x") == {"A": "1"}
    with pytest.raises(ConfigError, match=r"^x: image.build_args: not valid YAML"):
        parse_value("image.build_args", "{A: [", where="x")


SECRET = "ghs_MUSTnotAPPEAR"


def test_explain_lists_every_setting_sorted_and_never_reads_other_variables() -> None:
    env = {
        "GITHUB_TOKEN": SECRET,
        "GH_TOKEN": SECRET,
        "INPUT_GITHUB-TOKEN": SECRET,
        "SOCI_CI_GITHUB_TOKEN_SECRET": SECRET,
        "SOCI_CI_REGISTRY_PASSWORD": SECRET,
        "SOCI_CI_REGISTRY_USERNAME": SECRET,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "SOCI_CI_REPORT_JUNIT": "out/junit.xml",
    }
    lines = resolve(FILE, env=env, flags={"image.tags": ["{sha}", "v1"]}).explain()
    assert lines == sorted(lines)
    assert len(lines) == len(settable_paths())
    assert not any(SECRET in line for line in lines)
    assert not any(w in p for p in settable_paths() for w in ("token", "password", "secret"))
    assert {
        'image.tags = ["{sha}", "v1"] (flag)',
        'report.junit = "out/junit.xml" (environment)',
        "probe.runs = 3 (file)",
        'probe.cluster = "file-cluster" (file)',
        "probe.region = null (default)",
        "report.comment = true (default)",
    } <= set(lines)

from __future__ import annotations

import pytest

from soci_ci.config.resolve import Origin, resolve
from soci_ci.errors import ConfigError

FILE = {"version": 1, "probe": {"runs": 3, "cluster": "file-cluster"}}


def test_flags_beat_env_beat_file_beat_defaults() -> None:
    env = {"SOCI_CI_PROBE_RUNS": "7", "SOCI_CI_PROBE_CLUSTER": "env-cluster"}
    got = resolve(FILE, env=env, flags={"probe.cluster": "flag-cluster", "probe.region": None})
    probe = got.config.probe
    assert (probe["runs"], probe["cluster"], probe["concurrency"]) == (7, "flag-cluster", 4)
    assert got.origin["probe.runs"] is Origin.ENV
    assert got.origin["probe.cluster"] is Origin.FLAG
    assert got.origin["probe.concurrency"] is Origin.DEFAULT
    assert "probe.runs = 7 (environment)" in got.explain()


def test_file_value_kept_without_overrides() -> None:
    got = resolve(FILE, env={}, flags={})
    assert got.config.probe["runs"] == 3
    assert got.origin["probe.runs"] is Origin.FILE


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"probe.runs: 0 is less than the minimum of 1"):
        resolve(FILE, env={"SOCI_CI_PROBE_RUNS": "0"}, flags={})

"""Hostile config files: bounded, fast, one clean ConfigError (exit 2) with exact lines.

The expansion bomb runs in a subprocess under a 1 GiB address-space limit and a 20 s timeout
(it took 78 s and 3.3 GB before aliases were refused); the others run in-process and are
checked for time and peak traced memory.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from soci_ci.ci.github_output import config_annotations
from soci_ci.config.loader import load_config, load_config_text, read_config_data
from soci_ci.errors import ConfigError, ExitCode
from soci_ci.limits import MAX_CONFIG_BYTES, MAX_CONFIG_PROBLEMS
from tests.support.bounded import base_env, run_bounded, soci_ci_command
from tests.support.hostile import BILLION_LAUGHS


def _bounded(fn: object, *, seconds: float = 5.0, peak_mib: int = 64) -> ConfigError:
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(ConfigError) as info:
            fn()  # type: ignore[operator]
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - start < seconds
    assert peak < peak_mib << 20, f"peak {peak >> 20} MiB"
    assert info.value.exit_code is ExitCode.USAGE
    return info.value


def test_billion_laughs_is_refused_fast_in_a_bounded_process(tmp_path: Path) -> None:
    (tmp_path / ".soci-ci.yml").write_text(BILLION_LAUGHS)
    result = run_bounded(
        soci_ci_command("run", "--explain"), env=base_env(tmp_path), cwd=tmp_path, seconds=20
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: .soci-ci.yml:2: YAML anchors (&name) are not allowed in a config file\n"
    )
    assert result.seconds < 10


def test_an_alias_alone_is_refused_with_its_line() -> None:
    error = _bounded(lambda: load_config_text("version: 1\nimage:\n  tags: *x\n", name="c.yml"))
    assert str(error).startswith("c.yml:3: YAML aliases")


def test_deep_nesting_is_a_config_error_not_a_recursion_error() -> None:
    text = "version: 1\nimage: " + "[" * 100_000 + "]" * 100_000 + "\n"
    error = _bounded(lambda: load_config_text(text, name="c.yml"))
    assert "nested deeper than" in str(error)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text("version: 1\n" + "#" * (2 * MAX_CONFIG_BYTES) + "\n")
    error = _bounded(lambda: read_config_data(path, name="big.yml"))
    assert str(error) == f"big.yml: the config file is larger than {MAX_CONFIG_BYTES} bytes"


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.yml"
    os.mkfifo(path)
    error = _bounded(lambda: load_config(path, name="fifo.yml"))
    assert str(error) == "fifo.yml: the config file is not a regular file"


def test_a_directory_or_missing_file_is_a_config_error(tmp_path: Path) -> None:
    assert "not a regular file" in str(_bounded(lambda: load_config(tmp_path, name="d")))
    assert "cannot read" in str(_bounded(lambda: load_config(tmp_path / "nope.yml")))


def test_invalid_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"version: 1\nimage: {repository: \xff\xfe}\n")
    assert "not UTF-8" in str(_bounded(lambda: load_config(path, name="c.yml")))


def test_duplicate_and_non_text_keys_are_refused_with_their_lines() -> None:
    text = "version: 1\nimage:\n  context: a\n  context: b\n  1: x\n"
    error = _bounded(lambda: load_config_text(text, name="c.yml"))
    assert [(p.line, p.path, p.message) for p in error.problems] == [
        (4, "image.context", "duplicate key"),
        (5, "image", "keys must be text"),
    ]


def test_python_tags_are_refused() -> None:
    text = "version: 1\nimage: !!python/object/apply:os.system ['id']\n"
    assert ":2: invalid YAML" in str(_bounded(lambda: load_config_text(text, name="c.yml")))


def test_every_problem_is_listed_with_the_offending_keys_own_line() -> None:
    text = (
        "version: 1\n"
        "image:\n"
        "  repository: 3\n"
        "  contxt: .\n"
        "probe:\n"
        "  runs: many\n"
        "  network:\n"
        "    subnets:\n"
        "      - subnet-0abc\n"
        "      - nope\n"
        "report:\n"
        "  comentt: true\n"
    )
    error = _bounded(lambda: load_config_text(text, name="conf/.soci-ci.yml"))
    got = [(p.file, p.line, p.path) for p in error.problems]
    assert got == [
        ("conf/.soci-ci.yml", 3, "image.repository"),
        ("conf/.soci-ci.yml", 4, "image"),
        ("conf/.soci-ci.yml", 6, "probe.runs"),
        ("conf/.soci-ci.yml", 10, "probe.network.subnets[1]"),
        ("conf/.soci-ci.yml", 12, "report"),
    ]
    assert str(error).startswith("conf/.soci-ci.yml:3: image.repository: 3 is not of type")
    assert str(error).endswith("(and 4 more)")
    assert "unknown key 'contxt'" in error.problems[1].message
    assert "soci_ci/config/schema.json" not in error.hint
    assert config_annotations(error.problems[:1]) == [
        "::error file=conf/.soci-ci.yml,line=3,title=soci-ci%3A invalid config::"
        "image.repository: 3 is not of type 'string', 'null'"
    ]


def test_many_problems_are_capped_and_huge_values_never_rendered() -> None:
    huge = "x" * 100_000
    items = "".join(f"    - {{phase: nope{i}, max_seconds: 1}}\n" for i in range(200))
    text = f"version: 1\nimage:\n  repository: [{huge!r}]\nthresholds:\n  absolute:\n{items}"
    error = _bounded(lambda: load_config_text(text, name="c.yml"), seconds=10)
    assert len(error.problems) == MAX_CONFIG_PROBLEMS
    assert str(error).endswith("(and 200 more)")
    assert max(len(str(p)) for p in error.problems) < 400
    assert error.problems[0].message.startswith("a list of 1 item(s) is not of type")
    assert error.problems[1].line == 6


def test_a_missing_required_key_points_at_the_top() -> None:
    error = _bounded(lambda: load_config_text("image: {}\n", name="c.yml"))
    assert str(error) == "c.yml:1: (top level): 'version' is a required property"


def test_non_finite_numbers_and_huge_timeouts_are_refused() -> None:
    text = "version: 1\nthresholds:\n  min_soci_benefit_percent: .NaN\n  regression:\n"
    text += "    max_seconds: -.inf\n"
    error = _bounded(lambda: load_config_text(text, name="c.yml"))
    assert [(p.line, p.path) for p in error.problems] == [
        (3, "thresholds.min_soci_benefit_percent"),
        (5, "thresholds.regression.max_seconds"),
    ]
    huge = "version: 1\nprobe:\n  ready:\n    timeout_seconds: 99999999999999\n"
    assert ":4: probe.ready.timeout_seconds" in str(_bounded(lambda: load_config_text(huge)))

"""User patterns run on RE2: linear time on hostile patterns, clear errors for what RE2 rejects."""

from __future__ import annotations

import time

import pytest

from soci_ci.errors import ConfigError
from soci_ci.user_regex import MAX_PATTERN_CHARS, compile_user_regex


def test_catastrophic_pattern_is_linear() -> None:
    regex = compile_user_regex("^(a+)+$", key="probe.ready.log_regex")
    started = time.monotonic()
    assert not regex.search("a" * 200_000 + "b")
    assert time.monotonic() - started < 1.0
    assert regex.search("aaaa")


def test_backreference_is_a_config_error_naming_the_key(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"^probe\.ready\.log_regex: not a supported"):
        compile_user_regex(r"(a)\1", key="probe.ready.log_regex")
    assert capfd.readouterr().err == ""  # RE2 logs nothing of its own


def test_overlong_pattern_is_refused() -> None:
    with pytest.raises(ConfigError, match="longer than"):
        compile_user_regex("a" * (MAX_PATTERN_CHARS + 1), key="k")

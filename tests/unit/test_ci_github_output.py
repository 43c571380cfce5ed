from __future__ import annotations

from itertools import count
from pathlib import Path

import pytest

from soci_ci.ci.github_output import (
    Level,
    append_file,
    format_annotation,
    format_command,
    format_mask,
    format_output,
    format_outputs,
)
from soci_ci.errors import UsageError


def _fixed() -> str:
    return "DELIM"


def test_outputs_are_delimited_blocks() -> None:
    text = format_outputs({"verdict": "pass", "summary": "a\nb\n"}, delimiter=_fixed)
    assert text == "verdict<<DELIM\npass\nDELIM\nsummary<<DELIM\na\nb\n\nDELIM\n"


def test_random_delimiters_differ_and_value_cannot_contain_it() -> None:
    first = format_output("x", "v").split("\n")[0]
    second = format_output("x", "v").split("\n")[0]
    assert first != second
    assert first.startswith("x<<ghadelimiter_")
    with pytest.raises(UsageError):
        format_output("x", "has DELIM inside", delimiter=_fixed)
    with pytest.raises(UsageError):
        format_output("bad name", "v")


def test_command_escaping_matches_the_toolkit() -> None:
    assert (
        format_command("error", "50% slower\r\nsee: a,b", {"title": "p50: a,b%"})
        == "::error title=p50%3A a%2Cb%25::50%25 slower%0D%0Asee: a,b"
    )
    assert (
        format_annotation(Level.WARNING, "m", title="T", file=".soci-ci.yml")
        == "::warning file=.soci-ci.yml,title=T::m"
    )
    assert format_command("notice", "plain") == "::notice::plain"


def test_mask_each_line() -> None:
    assert format_mask("abc\n\nd%e") == ["::add-mask::abc", "::add-mask::d%25e"]


def test_append_file_appends(tmp_path: Path) -> None:
    target = tmp_path / "out"
    counter = count()
    append_file(target, format_output("a", "1", delimiter=lambda: f"D{next(counter)}"))
    append_file(target, format_output("b", "2", delimiter=lambda: f"D{next(counter)}"))
    assert target.read_text() == "a<<D0\n1\nD0\nb<<D1\n2\nD1\n"

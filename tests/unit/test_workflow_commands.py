"""Untrusted text printed by soci-ci never becomes a GitHub workflow command."""

from __future__ import annotations

import io
import logging
import re

import pytest

from soci_ci.ci.workflow_commands import (
    CommandSafeFormatter,
    neutralize,
    one_line,
    paused_commands,
    prefix_lines,
    write_untrusted,
)
from soci_ci.cli import _setup_logging, report_error
from soci_ci.errors import InputError, RegistryError

HOSTILE_MEDIA_TYPE = (
    "application/vnd.oci.image.manifest.v1+json\n::error title=pwned::owned\n"
    "  ::add-mask::\n\t::stop-commands::x\r::set-output name=a::b\n##[add-mask]y"
)
# What the runner treats as a command: `::` after leading whitespace, or the old `##[` form.
_COMMAND = re.compile(r"^\s*::|##\[", re.MULTILINE)


def _commands(text: str) -> list[str]:
    return [line for line in re.split(r"\r\n|\r|\n", text) if _COMMAND.search(line)]


def test_neutralize_keeps_the_text_visible_but_inert() -> None:
    out = neutralize(HOSTILE_MEDIA_TYPE)
    assert _commands(out) == []
    assert out.replace("\u200b", "") == HOSTILE_MEDIA_TYPE
    assert neutralize("plain text: a::b") == "plain text: a::b"


def test_one_line_and_prefix_lines() -> None:
    assert "\n" not in one_line(HOSTILE_MEDIA_TYPE)
    assert len(one_line("x" * 10_000, limit=100)) == 100
    block = prefix_lines("step 1\n::error::x\r::warning::y\n")
    assert block.split("\n") == ["| step 1", "| ::error::x", "| ::warning::y"]
    assert _commands(block) == []


def test_paused_commands_uses_a_token_the_block_does_not_contain() -> None:
    stream = io.StringIO()
    write_untrusted(stream, ["::error::inside", "ok"], prefix="  ")
    lines = stream.getvalue().splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert lines[-1] == f"::{token}::"
    assert _commands("\n".join(lines[1:-1])) == []
    with paused_commands(io.StringIO(), avoid="") as second:
        assert second != token


def test_every_log_record_is_neutralised(capsys: pytest.CaptureFixture[str]) -> None:
    _setup_logging(debug=False, quiet=False)
    log = logging.getLogger("soci_ci.test")
    log.info("manifest media type %s", HOSTILE_MEDIA_TYPE)
    log.info("build log:\n  ::error::from a RUN step\n  ::add-mask::oops")
    assert _commands(capsys.readouterr().err) == []
    formatter = CommandSafeFormatter("%(message)s")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "::error::%s", ("y",), None)
    assert _commands(formatter.format(record)) == []


def test_errors_with_hostile_text_print_one_line_and_one_real_annotation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    report_error(InputError(f"unsupported media type {HOSTILE_MEDIA_TYPE}"), debug=False)
    report_error(RegistryError("registry said:\n::add-mask::x", hint="::error::hint"), debug=True)
    err = capsys.readouterr().err
    commands = _commands(err)
    assert [c.split("::")[1] for c in commands] == [
        "error title=soci-ci InputError",
        "error title=soci-ci RegistryError",
    ]
    assert all("\n" not in c and "\r" not in c for c in commands)  # the message is data


def test_every_line_of_a_build_log_chunk_is_prefixed_and_inert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from soci_ci.build.engine import _consume

    _setup_logging(debug=False, quiet=False)
    chunk = "Step 1/2 : RUN echo\n::error title=x::from the Dockerfile\r::add-mask::y\nStep 2/2\n"
    _consume([{"stream": chunk}], "docker build")
    err = capsys.readouterr().err
    assert _commands(err) == []
    assert [line[:2] for line in re.split(r"\r|\n", err.rstrip("\n"))] == ["  "] * 4

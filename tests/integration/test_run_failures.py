"""Every failure of `soci-ci run` still reports: outputs (verdict=error, one redacted line),
the job summary and the PR comment, then the failure's exit code (70 only for a bug).

In-process runs of the CLI with a GitHub Actions environment and the local GitHub fake;
no registry or Docker engine is needed (the failures happen before or instead of them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from soci_ci.cli import main
from tests.fakes.github_api import BOT, FakeGitHub
from tests.support.github_files import parse_outputs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_failureTOKENthatMUSTnotLEAK"
PASSWORD = "registry-pa55word-not-to-leak"
REPO = "octo-org/app"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(users={TOKEN: BOT}, bot_tokens={TOKEN}).serve()
    yield fake
    fake.close()


@pytest.fixture
def workspace(tmp_path: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("SOCI_CI_", "INPUT_", "GITHUB_", "CODEBUILD_", "AWS_")):
            monkeypatch.delenv(name)
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(ROOT / "tests" / "data" / "pull_request_event.json"),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GITHUB_TOKEN": TOKEN,
        "SOCI_CI_REGISTRY_PASSWORD": PASSWORD,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ws


def _outputs(ws: Path) -> dict[str, str]:
    return parse_outputs((ws.parent / "output").read_text())


def _check_reported(
    ws: Path, github: FakeGitHub, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = _outputs(ws)
    assert outputs["verdict"] == "error"
    assert outputs["reason"].startswith(reason), outputs["reason"]
    assert "\n" not in outputs["reason"]
    summary = (ws.parent / "summary").read_text()
    assert "**Verdict:** ❌ error" in summary
    comments = github.comments[(REPO, 42)]
    assert len(comments) == 1
    assert "**Verdict:** ❌ error" in comments[0]["body"]
    assert outputs["comment-url"]
    out, err = capsys.readouterr()
    assert "::error title=soci-ci%3A error::" in out
    for text in (out, err, summary, comments[0]["body"], str(outputs)):
        # Only in the runner's own mask commands (the runner hides those lines).
        unmasked = text.replace(f"::add-mask::{TOKEN}", "").replace(f"::add-mask::{PASSWORD}", "")
        assert TOKEN not in unmasked
        assert PASSWORD not in unmasked


def test_a_config_error_reports_and_exits_2(
    workspace: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / ".soci-ci.yml").write_text("version: 1\nimage:\n  repositry: x\n")
    assert main(["run", "--from-env"]) == 2
    _check_reported(workspace, github, ".soci-ci.yml:3: image: unknown key 'repositry'", capsys)


@pytest.mark.parametrize("value", ["abc", "30 parsecs", "-1", "0"])
def test_a_bad_variable_reports_and_exits_2(
    value: str,
    workspace: Path,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOCI_CI_REGISTRY_TIMEOUT", value)
    assert main(["run", "--from-env"]) == 2
    _check_reported(workspace, github, "SOCI_CI_REGISTRY_TIMEOUT=", capsys)


def test_a_step_error_reports_and_keeps_its_code(
    workspace: Path,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An image whose registry refuses the connection: the index step fails (exit 4)."""
    monkeypatch.setenv("SOCI_CI_IMAGE", f"user:{PASSWORD}@127.0.0.1:9/app:1")
    monkeypatch.setenv("SOCI_CI_REGISTRY_TIMEOUT", "2s")
    monkeypatch.setenv("SOCI_CI_RETRY_BASE_SECONDS", "10ms")
    code = main(["run", "--from-env"])
    assert code in (2, 4)
    _check_reported(workspace, github, "the index step failed: ", capsys)


def test_a_bug_in_a_step_reports_and_exits_70(
    workspace: Path,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from soci_ci.app import pipeline

    def broken(options: object) -> object:
        raise ZeroDivisionError(f"token {TOKEN} in a bug's message")

    monkeypatch.setattr(pipeline, "index_image", broken)
    monkeypatch.setenv("SOCI_CI_IMAGE", "127.0.0.1:9/app:1")
    assert main(["run", "--from-env"]) == 70
    _check_reported(
        workspace, github, "the index step failed: internal error: ZeroDivisionError", capsys
    )

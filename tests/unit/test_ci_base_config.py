"""The base branch's config from the checkout's git objects: bounded, never the worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from soci_ci.ci.base_config import fetch_base_config, from_git
from soci_ci.cli.environment import DEFAULT_SEARCH_PATH
from soci_ci.limits import MAX_CONFIG_BYTES

PATH = DEFAULT_SEARCH_PATH  # git is found here, as on the runners


def _git(ws: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ws), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    ws = tmp_path / "ws"
    ws.mkdir()
    _git(ws, "init", "-q")
    (ws / ".soci-ci.yml").write_text("version: 1\nimage: {repository: base/app}\n")
    (ws / "big.yml").write_text("#" * (MAX_CONFIG_BYTES + 10))
    (ws / "link.yml").symlink_to("/etc/passwd")
    _git(ws, "add", ".")
    _git(ws, "commit", "-qm", "base")
    sha = _git(ws, "rev-parse", "HEAD")
    (ws / ".soci-ci.yml").write_text("version: 1\nimage: {repository: pr/app}\n")
    return ws, sha


def test_the_file_at_the_base_commit_not_the_worktree(repo: tuple[Path, str]) -> None:
    ws, sha = repo
    found = from_git(ws, ".soci-ci.yml", sha, search_path=PATH)
    assert found is not None and found.found
    assert found.text == b"version: 1\nimage: {repository: base/app}\n"
    assert found.source == f"git {sha[:12]}"


def test_missing_files_links_and_big_files(repo: tuple[Path, str]) -> None:
    ws, sha = repo
    missing = from_git(ws, "nope.yml", sha, search_path=PATH)
    assert missing is not None and (missing.found, missing.text) == (True, None)
    link = from_git(ws, "link.yml", sha, search_path=PATH)
    assert link is not None and (link.found, link.text) == (True, None)
    big = from_git(ws, "big.yml", sha, search_path=PATH)
    assert big is not None and big.text is not None and len(big.text) > MAX_CONFIG_BYTES


def test_git_is_run_from_the_search_path_it_is_given(
    repo: tuple[Path, str], tmp_path: Path
) -> None:
    ws, sha = repo
    assert from_git(ws, ".soci-ci.yml", sha, search_path=str(tmp_path / "no-git-here")) is None


def test_an_unknown_commit_falls_back_and_bad_refs_are_never_passed_to_git(
    repo: tuple[Path, str],
) -> None:
    ws, _ = repo
    assert from_git(ws, ".soci-ci.yml", "0" * 40, search_path=PATH) is None
    for sha, branch in (("--output=/tmp/x", None), (None, "-c core.pager=sh"), (None, "a..b")):
        got = fetch_base_config(
            workspace=ws,
            relpath=".soci-ci.yml",
            base_sha=sha,
            base_branch=branch,
            repository="o/r",
            api_url="http://127.0.0.1:9",
            token=None,
            search_path=PATH,
        )
        assert (got.found, got.source) == (False, "the base commit is unknown")


def test_no_git_history_and_no_token_is_unavailable(tmp_path: Path) -> None:
    got = fetch_base_config(
        workspace=tmp_path,
        relpath=".soci-ci.yml",
        base_sha="a" * 40,
        base_branch="main",
        repository="o/r",
        api_url="http://127.0.0.1:9",
        token=None,
        search_path=PATH,
    )
    assert not got.found
    assert "no GitHub token" in got.source

"""Every path of a run resolves inside the workspace, symbolic links included, or exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from soci_ci.app.pipeline import RunOptions
from soci_ci.app.run_trust import confine_paths
from soci_ci.errors import ConfigError, ExitCode
from soci_ci.workspace import resolve_inside, workspace_root
from tests.support.pipeline import NO_DOCKER


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "app").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("token")
    return root


@pytest.mark.parametrize(
    "path",
    [
        "/home/runner/.docker/config.json",
        "/proc/self/environ",
        "../../..",
        "../outside/secret",
        "app/../../outside/secret",
    ],
)
def test_paths_outside_are_refused(ws: Path, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_inside(ws, path, "image.dockerfile")
    assert info.value.exit_code is ExitCode.USAGE
    assert str(info.value).startswith(f"image.dockerfile: {path!r} resolves outside the workspace")


def test_a_symlink_pointing_outside_is_refused(ws: Path) -> None:
    (ws / "app" / "Dockerfile.link").symlink_to(ws.parent / "outside" / "secret")
    (ws / "ctx").symlink_to(ws.parent / "outside")
    with pytest.raises(ConfigError):
        resolve_inside(ws, "app/Dockerfile.link", "image.dockerfile")
    with pytest.raises(ConfigError):
        resolve_inside(ws, "ctx", "image.context")
    with pytest.raises(ConfigError):  # an output file below a link that leaves
        resolve_inside(ws, "ctx/new/junit.xml", "report.junit")


def test_paths_inside_resolve_even_through_inner_links(ws: Path) -> None:
    (ws / "df").symlink_to(ws / "app" / "Dockerfile")
    assert resolve_inside(ws, "df", "k") == ws / "app" / "Dockerfile"
    assert resolve_inside(ws, "reports/new/j.xml", "report.junit") == ws / "reports/new/j.xml"
    assert resolve_inside(ws, "Dockerfile", "k", base=ws / "app") == ws / "app" / "Dockerfile"
    assert resolve_inside(ws, str(ws / "app"), "k") == ws / "app"


def test_nul_and_empty_paths_are_refused(ws: Path) -> None:
    for bad in ("a\x00b", " "):
        with pytest.raises(ConfigError):
            resolve_inside(ws, bad, "k")


def test_workspace_root_follows_the_ci(tmp_path: Path) -> None:
    assert workspace_root({"GITHUB_WORKSPACE": str(tmp_path)}) == tmp_path.resolve()
    assert workspace_root({"CODEBUILD_SRC_DIR": str(tmp_path)}) == tmp_path.resolve()
    assert workspace_root({}, cwd=tmp_path) == tmp_path.resolve()


def test_confine_paths_checks_context_dockerfile_junit_and_work_dir(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws)
    good = RunOptions(
        docker=NO_DOCKER, context=Path("app"), junit=Path("out/j.xml"), work_dir=Path(".soci-ci")
    )
    confined = confine_paths(good, workspace=ws, environ={})
    assert confined.context == ws / "app"
    assert confined.dockerfile == str(ws / "app" / "Dockerfile")
    assert confined.junit == ws / "out" / "j.xml"
    for bad, key in (
        (RunOptions(docker=NO_DOCKER, context=Path("../..")), "image.context"),
        (
            RunOptions(docker=NO_DOCKER, context=Path("app"), dockerfile="/proc/self/environ"),
            "image.dockerfile",
        ),
        (
            RunOptions(docker=NO_DOCKER, context=Path("app"), dockerfile="../../outside/secret"),
            "image.dockerfile",
        ),
        (RunOptions(docker=NO_DOCKER, junit=Path("../../x")), "report.junit"),
        (RunOptions(docker=NO_DOCKER, work_dir=Path("/etc/soci")), "work-dir"),
    ):
        with pytest.raises(ConfigError, match=f"^{key}: "):
            confine_paths(bad, workspace=ws, environ={})
    runner_temp = ws.parent / "runner_temp"
    runner_temp.mkdir()
    temp = RunOptions(docker=NO_DOCKER, work_dir=runner_temp / "soci-ci")
    confined = confine_paths(temp, workspace=ws, environ={"RUNNER_TEMP": str(runner_temp)})
    assert confined.work_dir == runner_temp.resolve() / "soci-ci"


def test_a_committed_work_dir_with_links_is_refused(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws)
    work = ws / ".soci-ci"
    (work / "old").mkdir(parents=True)
    (work / "old" / "build.json").write_text("{}")
    assert confine_paths(RunOptions(docker=NO_DOCKER), workspace=ws, environ={}).work_dir == work
    (work / "index.json").symlink_to(ws.parent / "outside" / "secret")
    with pytest.raises(ConfigError, match=r"^work-dir: '\.soci-ci' holds 'index\.json'"):
        confine_paths(RunOptions(docker=NO_DOCKER), workspace=ws, environ={})


@pytest.mark.parametrize("path", [".git/config", ".git", "sub/.GIT/hooks/pre-commit"])
def test_files_in_git_directories_are_refused(ws: Path, path: str) -> None:
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text('[http "https://github.com/"]\n\textraheader = x\n')
    with pytest.raises(ConfigError, match=r"inside the repository's \.git directory"):
        resolve_inside(ws, path, "report.junit")
    assert resolve_inside(ws, ".", "image.context", allow_git=True) == ws

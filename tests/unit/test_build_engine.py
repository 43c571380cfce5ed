"""The build engine's choices and command lines, with stand-in docker CLIs (no engine needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from soci_ci.build.docker_tools import DockerTools
from soci_ci.build.engine import build_with_buildx, choose_builder
from soci_ci.build.spec import BuildSpec


def tools(cli: str | Path, tmp_path: Path) -> DockerTools:
    return DockerTools(environ={}, config_dir=tmp_path / ".docker", cli_name=str(cli))


def fake_cli(tmp_path: Path, *, buildx: bool, version: str) -> str:
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = version ]; then echo {version}; exit 0; fi\n'
        "exit 2\n"
    )
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("buildx", "version", "expected"),
    [(True, "28.2.2", "buildx"), (False, "20.10.24", "buildkit"), (False, "28.2.2", "sdk")],
)
def test_auto_builder_follows_the_installed_cli(
    tmp_path: Path, buildx: bool, version: str, expected: str
) -> None:
    cli = fake_cli(tmp_path, buildx=buildx, version=version)
    assert choose_builder(tools(cli, tmp_path)) == expected
    assert choose_builder(tools(tmp_path / "missing", tmp_path)) == "sdk"


def test_buildx_command_line_and_metadata(tmp_path: Path) -> None:
    """The buildx plugin cannot be installed here (not in Debian 12 or PyPI), so a stand-in CLI
    checks what soci-ci asks of it and answers with buildx's metadata file keys."""
    argv_file = tmp_path / "argv.json"
    cli = tmp_path / "docker"
    cli.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"json.dump(sys.argv[1:], open({str(argv_file)!r}, 'w'))\n"
        "meta = sys.argv[sys.argv.index('--metadata-file') + 1]\n"
        "json.dump({'containerimage.digest': 'sha256:' + 'a' * 64,\n"
        "           'containerimage.config.digest': 'sha256:' + 'c' * 64}, open(meta, 'w'))\n"
    )
    cli.chmod(0o755)
    spec = BuildSpec(
        context=tmp_path,
        dockerfile="Dockerfile",
        tags=("r.example/app:1", "r.example/app:latest"),
        build_args={"A": "1"},
        labels={"L": "2"},
        target="final",
        platform="linux/arm64",
        network="none",
        pull=False,
        push=True,
    )
    result = build_with_buildx(spec, tools(cli, tmp_path))
    argv = json.loads(argv_file.read_text())
    assert argv[:3] == ["buildx", "build", str(tmp_path)]
    for pair in (
        ["-t", "r.example/app:1"],
        ["-t", "r.example/app:latest"],
        ["--build-arg", "A=1"],
        ["--label", "L=2"],
        ["--target", "final"],
        ["--platform", "linux/arm64"],
        ["--network", "none"],
    ):
        at = argv.index(pair[1])
        assert argv[at - 1] == pair[0], pair
    assert "--push" in argv and "--provenance=false" in argv and "--load" not in argv
    assert result.builder == "buildx"
    assert result.pushed == dict.fromkeys(spec.tags, "sha256:" + "a" * 64)
    assert result.image_id == "sha256:" + "c" * 64


def test_several_platforms_need_buildx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from soci_ci.cli import main

    argv = ["build", "--context", str(tmp_path), "--no-push", "--builder", "sdk"]
    assert main([*argv, "--platform", "linux/amd64", "--platform", "linux/arm64"]) == 5
    err = capsys.readouterr().err
    assert "several platforms (linux/amd64,linux/arm64), build secrets and cache" in err
    assert "need docker buildx; the sdk builder has none of them" in err


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("127.0.0.1:5000/app:v1 latest", "invalid tag 'v1 latest': tags are separated by commas"),
        ("127.0.0.1:5000/Team/App:1", "invalid repository '127.0.0.1:5000/Team/App': it must be"),
        ("r.example/app:-x", "invalid tag '-x'"),
    ],
)
def test_bad_tags_are_usage_errors_before_any_docker_call(
    tag: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from soci_ci.cli import main

    monkeypatch.setenv("SOCI_CI_DOCKER_CLI", str(tmp_path / "no-docker-here"))
    assert main(["build", "--context", str(tmp_path), "-t", tag]) == 2
    err = capsys.readouterr().err
    assert message in err and "docker build --help" not in err

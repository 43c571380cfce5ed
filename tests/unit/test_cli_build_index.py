"""`soci-ci build --index --password-stdin`: stdin is read once and both steps get the password."""

from __future__ import annotations

import io

import pytest

from soci_ci.app import build as build_mod
from soci_ci.app import steps as steps_mod
from soci_ci.app.build import BuiltImage
from soci_ci.app.options import BuildOptions, IndexImageOptions
from soci_ci.build.engine import BuildResult
from soci_ci.cli import main
from tests.support.pipeline import DIGEST_A, index_report


def test_password_from_stdin_reaches_build_and_index(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    def build_image(options: BuildOptions) -> BuiltImage:
        seen["build"] = options.registry
        result = BuildResult(image_id="sha256:id", tags=options.spec.tags, pushed={"t": DIGEST_A})
        return BuiltImage(result=result, reference=f"r.example/app@{DIGEST_A}")

    def index_image(options: IndexImageOptions) -> object:
        seen["index"] = options.registry
        return index_report(options.image)

    monkeypatch.setattr(build_mod, "build_image", build_image)
    monkeypatch.setattr(steps_mod, "index_image", index_image)
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\nsecond line\n"))
    argv = ["build", "--tag", "r.example/app:1", "--index", "--username", "u", "--password-stdin"]
    assert main(argv) == 0
    assert seen["build"] is seen["index"]
    registry = seen["index"]
    assert (registry.username, registry.password) == ("u", "s3cret")  # type: ignore[attr-defined]
    assert "s3cret" not in capsys.readouterr().out

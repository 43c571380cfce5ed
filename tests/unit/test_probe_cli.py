from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.cli.probe import load
from soci_ci.probe.settings import ProbeSettings, ReadyFallback

DIGEST = "sha256:" + "a" * 64


def test_settings_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / ".soci-ci.yml"
    config.write_text(
        "version: 1\nprobe:\n  runs: 3\n  cluster: probe\n  ready: {fallback: started}\n"
    )
    settings = load(config).probe.settings
    assert (settings.runs, settings.cluster, settings.ready.fallback) == (
        3,
        "probe",
        ReadyFallback.STARTED,
    )
    assert load(None).probe.settings == ProbeSettings()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--image-soci", f"r/app@{DIGEST}"], 2, "give --image-no-soci and --image-soci"),
        (
            ["--image-no-soci", "r/app:latest", "--image-soci", f"r/app@{DIGEST}"],
            2,
            "probe image 'r/app:latest' is not pinned by digest",
        ),
        (["--runs", "0", "--index-json", "x.json"], 2, "probe.runs must be between 1 and 100"),
        (["--index-json", "missing.json"], 2, "cannot read --index-json missing.json"),
        (["--index-json", "report.json"], 6, "the index report has no SOCI-enabled image digest"),
    ],
)
def test_usage_errors(
    argv: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    report = {"image": "r/app:v1", "original_image": {"digest": DIGEST}, "soci_image": None}
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert main(["probe", *argv]) == code
    assert capsys.readouterr().err.startswith(f"error: {message}")

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soci_ci.cli import main
from soci_ci.errors import InputError
from soci_ci.gate.baseline import LocalStore, StoreKey, from_record, make_record
from soci_ci.probe.model import ArmName
from tests.support.probe_results import make_arm, make_result

CONFIG = """\
version: 1
thresholds:
  absolute:
    - {phase: total, stat: p50, arm: soci, max_seconds: LIMIT}
baseline:
  source: auto
"""


def _files(tmp_path: Path, limit: int) -> tuple[Path, Path]:
    config = tmp_path / "soci-ci.yml"
    config.write_text(CONFIG.replace("LIMIT", str(limit)), encoding="utf-8")
    result = make_result(
        make_arm(ArmName.NO_SOCI, [40, 41, 42, 43, 44]),
        make_arm(ArmName.SOCI, [20, 21, 22, 23, 24]),
    )
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps(result.to_json()), encoding="utf-8")
    return config, probe


def test_gate_pass_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, probe = _files(tmp_path, 30)
    outs = [tmp_path / n for n in ("gate.md", "gate.xml", "gate.json")]
    code = main(
        [
            "gate",
            "--config",
            str(config),
            "--results",
            str(probe),
            "--markdown-out",
            str(outs[0]),
            "--junit",
            str(outs[1]),
            "--json-out",
            str(outs[2]),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.endswith("verdict: pass (all thresholds passed)\n")
    assert (
        outs[0]
        .read_text(encoding="utf-8")
        .startswith("<!-- soci-ci report: local (default) -->\n## ✅")
    )
    assert 'failures="0"' in outs[1].read_text(encoding="utf-8")
    assert json.loads(outs[2].read_text(encoding="utf-8"))["verdict"] == "pass"


def test_gate_fail_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, probe = _files(tmp_path, 10)
    assert main(["gate", "--config", str(config), "--results", str(probe)]) == 1
    assert "verdict: fail (soci total p50 22.00s exceeds 10s)" in capsys.readouterr().out


def test_gate_without_results_is_neutral(tmp_path: Path) -> None:
    config, _ = _files(tmp_path, 10)
    assert main(["gate", "--config", str(config), "--neutral-reason", "fork PR"]) == 0


def test_store_roundtrip_and_key_check(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    key = StoreKey(repository="o/r", branch="main", image="app")
    result = make_result(make_arm(ArmName.SOCI, [1, 2, 3]))
    when = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    store.write(key, make_record(key, result, commit="0123456789abcdef", recorded_at=when))
    record = store.read(key)
    assert record is not None
    base = from_record(record, key)
    assert base.samples == (1, 2, 3)
    assert base.label == "main@0123456789ab (2026-11-27T10:00:00+00:00)"
    other = StoreKey(repository="o/r", branch="main", image="other")
    assert store.read(other) is None
    with pytest.raises(InputError, match="baseline record is for o/r@main app"):
        from_record(record, other)

"""The comment's lazy-loading section: figures from verify alone, no AWS (golden file)."""

from __future__ import annotations

import json
from pathlib import Path

from soci_ci.ci.run_report import RunSummary, StepRecord, StepStatus, Verdict, render_markdown
from soci_ci.cli import main
from soci_ci.soci.verify import LazyStartSummary
from tests.unit.test_report_render import check_golden


def summary(baseline: int | None) -> LazyStartSummary:
    return LazyStartSummary(
        image="registry.example/team/app@sha256:" + "ab" * 32,
        digest="sha256:" + "ab" * 32,
        layers_indexed=2,
        layers_skipped=3,
        files=1234,
        median_fetch=4_400_000.0,
        p90_fetch=9_100_000.0,
        indexed_bytes=180_000_000,
        image_bytes=212_345_678,
        baseline_image_bytes=baseline,
    )


def test_run_comment_with_lazy_start_golden() -> None:
    run = RunSummary(
        steps=(StepRecord(name="verify", status=StepStatus.RAN, detail="ok", seconds=1.5),),
        verdict=Verdict.NEUTRAL,
        reason="no thresholds evaluated",
        soci_image_ref="registry.example/team/app@sha256:" + "ab" * 32,
        lazy_start=summary(200_000_000),
    )
    check_golden("run-comment-lazy-start.md", render_markdown(run))


def test_no_baseline_and_a_smaller_image() -> None:
    from soci_ci.report.markdown import render_lazy_start

    assert "(no baseline)" in "\n".join(render_lazy_start(summary(None)))
    assert "-1.7 MB vs the base branch" in "\n".join(render_lazy_start(summary(214_000_000)))


def test_verify_json_carries_the_figures(tmp_path: Path) -> None:
    root = tmp_path / "img"
    assert main(["example", f"oci:{root}:t"]) == 0
    assert main(["index", f"oci:{root}:t"]) == 0
    out = tmp_path / "v.json"
    assert main(["verify", f"oci:{root}:t-soci", "--output-json", str(out)]) == 0
    data = json.loads(out.read_text())
    got = LazyStartSummary.from_json(data)
    assert got is not None
    assert got.layers_indexed == 1 and got.layers_skipped == 1
    assert got.files == data["indexes"][0]["layers"][0]["files_total"] > 0
    assert 0 < got.median_fetch <= got.p90_fetch <= got.indexed_bytes < got.image_bytes
    assert got.digest == data["digest"] and got.digest.startswith("sha256:")
    assert LazyStartSummary.from_json({"summary": {"files": "x"}}) is None

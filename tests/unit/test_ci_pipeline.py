"""The pipeline's plan, skips and verdicts with a fake step runner (no docker, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soci_ci.app.pipeline import FORK_REASON, Pipeline, RunOptions, StepOutcome
from soci_ci.ci.context import CiContext, Provider, expand_tags
from soci_ci.ci.run_report import StepStatus, Verdict, escape_markdown, render_junit

CTX = CiContext(
    provider=Provider.GITHUB,
    repository="o/r",
    pr_number=5,
    sha="6dcb09b5b57875f334f61aebed695e2e4193db5e",
    branch="feature/slim image",
)


class FakeRunner:
    """Plays the commands: writes the JSON files they would write, records argv."""

    def __init__(self, work: Path, fail: dict[str, StepOutcome] | None = None) -> None:
        self.work = work
        self.calls: list[list[str]] = []
        self.fail = fail or {}

    def __call__(self, argv: list[str]) -> StepOutcome:
        self.calls.append(argv)
        command = argv[0]
        if command in self.fail:
            return self.fail[command]
        if command == "gate":
            (self.work / "gate.md").write_text(
                "| threshold | result |\n|---|---|\n| p50 | fail |\n"
            )
            (self.work / "gate-junit.xml").write_text(
                '<testsuite name="soci-ci.thresholds" tests="1" failures="1">'
                '<testcase name="total p50 soci"><failure message="31 s &gt; 30 s"/></testcase>'
                "</testsuite>"
            )
            return StepOutcome(code=1)
        out = Path(argv[argv.index("--output-json") + 1])
        data: dict[str, object] = {}
        if command == "build":
            data = {"reference": "127.0.0.1:5000/app@sha256:aa", "digest": "sha256:aa"}
        elif command == "index":
            data = {
                "outcome": "indexed",
                "original_image": {"digest": "sha256:aa"},
                "soci_image": {"digest": "sha256:bb", "tag": "x-soci"},
                "soci_indexes": [{"platform": "linux/amd64", "digest": "sha256:cc"}],
                "ztocs": [{}],
                "skipped_layers": [{}, {}],
            }
        elif command == "probe":
            data = {
                "region": "us-east-1",
                "arms": [
                    {"name": "soci", "runs": [{}, {}], "stats": {"total": {"median": 31.0}}},
                    {"name": "no-soci", "runs": [{}, {}], "stats": {"total": {"median": 40.5}}},
                ],
            }
            Path(argv[argv.index("--output-markdown") + 1]).write_text("| arm | total |\n")
        out.write_text(json.dumps(data))
        return StepOutcome(code=0)


def _options(tmp_path: Path, **changes: object) -> RunOptions:
    base: dict[str, object] = {
        "repository": "127.0.0.1:5000/app",
        "work_dir": tmp_path,
        "startup": False,
    }
    base.update(changes)
    return RunOptions(**base)  # type: ignore[arg-type]


def test_full_plan_without_probe(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path)
    summary, code = Pipeline(_options(tmp_path, tags=("{short_sha}", "{pr}")), CTX, runner).run()
    assert code == 0
    assert [c[0] for c in runner.calls] == ["build", "index", "verify"]
    assert runner.calls[0][:8] == [
        "build",
        "--context",
        ".",
        "--file",
        "Dockerfile",
        "--tag",
        "127.0.0.1:5000/app:6dcb09b",
        "--tag",
    ]
    assert runner.calls[1][:2] == ["index", "127.0.0.1:5000/app@sha256:aa"]
    assert runner.calls[2][:2] == ["verify", "127.0.0.1:5000/app@sha256:bb"]
    assert [(s.name, s.status, s.detail) for s in summary.steps] == [
        ("build", StepStatus.RAN, "pushed 127.0.0.1:5000/app@sha256:aa"),
        ("index", StepStatus.RAN, "indexed: 1 zTOC(s), 2 layer(s) skipped"),
        ("verify", StepStatus.RAN, "index matches the layers"),
        ("startup", StepStatus.SKIPPED, "disabled (startup.enabled: false)"),
        ("probe", StepStatus.SKIPPED, "disabled (probe.enabled: false)"),
        ("gate", StepStatus.SKIPPED, "no cold-start measurement to judge"),
    ]
    assert summary.verdict is Verdict.NEUTRAL
    assert summary.soci_index_digest == "sha256:cc"


def test_build_and_index_options_become_flags(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path)
    options = _options(
        tmp_path,
        target="final",
        labels={"team": "perf"},
        platforms=("linux/arm64",),
        soci_platforms=("linux/arm64",),
        build_tool_identifier="AWS SOCI CLI v0.2",
        verify=False,
    )
    Pipeline(options, CTX, runner).run()
    build, index = runner.calls
    labels = [build[i + 1] for i, arg in enumerate(build) if arg == "--label"]
    assert labels == [f"org.opencontainers.image.revision={CTX.sha}", "team=perf"]
    for flag, value in (
        ("--target", "final"),
        ("--platform", "linux/arm64"),
    ):
        assert build[build.index(flag) + 1] == value
    for flag, value in (
        ("--platform", "linux/arm64"),
        ("--build-tool-identifier", "AWS SOCI CLI v0.2"),
    ):
        assert index[index.index(flag) + 1] == value


def test_merge_commit_build_says_which_commit_it_is(tmp_path: Path) -> None:
    """On a GitHub PR the checkout is the merge commit; the tags' {sha} is the PR head."""
    runner = FakeRunner(tmp_path)
    ctx = CiContext(
        provider=Provider.GITHUB, repository="o/r", pr_number=7, sha="a" * 40, built_sha="b" * 40
    )
    Pipeline(_options(tmp_path, tags=("{sha}",)), ctx, runner).run()
    build = runner.calls[0]
    labels = [build[i + 1] for i, arg in enumerate(build) if arg == "--label"]
    assert labels == [
        "org.opencontainers.image.revision=" + "b" * 40,
        "dev.soci-ci.tag-commit=" + "a" * 40,
    ]
    assert build[build.index("--tag") + 1].endswith(":" + "a" * 40)


def test_failed_step_stops_the_rest_and_keeps_its_exit_code(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, fail={"index": StepOutcome(code=4, message="401 denied")})
    summary, code = Pipeline(_options(tmp_path), CTX, runner).run()
    assert code == 4
    assert summary.verdict is Verdict.ERROR
    assert summary.reason == "the index step failed: 401 denied"
    assert [s.detail for s in summary.steps[2:]] == ["index failed"] * 4


def test_verify_mismatch_is_a_failed_check(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, fail={"verify": StepOutcome(code=1, message="span 3 differs")})
    summary, code = Pipeline(_options(tmp_path), CTX, runner).run()
    assert (summary.verdict, code) == (Verdict.FAIL, 1)


def test_fork_runs_nothing_and_is_neutral(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path)
    fork = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=6, fork=True)
    summary, code = Pipeline(_options(tmp_path), fork, runner).run()
    assert (summary.verdict, code, summary.reason) == (Verdict.NEUTRAL, 0, FORK_REASON)
    assert runner.calls == []


def test_existing_image_skips_build(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path)
    summary, _ = Pipeline(
        _options(tmp_path, image="r.example/app@sha256:aa", verify=False), CTX, runner
    ).run()
    assert [c[0] for c in runner.calls] == ["index"]
    assert summary.steps[0].detail == "using the existing image r.example/app@sha256:aa"


def test_tags_drop_unknown_values() -> None:
    local = CiContext(provider=Provider.LOCAL)
    assert expand_tags(("{sha}", "{pr}"), local) == ("latest",)
    assert expand_tags(("{branch}-{short_sha}", "v1"), CTX) == ("feature-slim-image-6dcb09b", "v1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feat/<script>|x", "feat/\\<script\\>&#124;x"),
        ("a\nb  [link](http://x) #1", "a b \\[link\\](http://x) #1"),
    ],
)
def test_markdown_escaping(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


def test_junit_one_case_per_step(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path, fail={"verify": StepOutcome(code=1, message='bad "span" <3>')})
    summary, _ = Pipeline(_options(tmp_path), CTX, runner).run()
    xml = render_junit(summary)
    assert xml.count("<testcase ") == 6
    assert '<failure message="bad &quot;span&quot; &lt;3&gt;">bad "span" &lt;3&gt;</failure>' in xml
    assert xml.count("<skipped ") == 3


def test_probe_and_failing_gate(tmp_path: Path) -> None:
    runner = FakeRunner(tmp_path)
    config = tmp_path / "c.yml"
    pipeline = Pipeline(
        _options(tmp_path, probe=True, config_path=config),
        CTX,
        runner,
        gate_available=lambda: True,
    )
    summary, code = pipeline.run()
    assert (summary.verdict, code, summary.reason) == (Verdict.FAIL, 1, "a threshold failed")
    assert runner.calls[3][:3] == ["probe", "--index-json", str(tmp_path / "index.json")]
    assert runner.calls[4] == [
        "gate",
        "--config",
        str(config),
        "--results",
        str(tmp_path / "probe.json"),
        "--markdown-out",
        str(tmp_path / "gate.md"),
        "--junit",
        str(tmp_path / "gate-junit.xml"),
        "--json-out",
        str(tmp_path / "gate.json"),
        "--index-digest",
        "sha256:cc",
        "--baseline-key",
        "o/r:feature/slim image:127.0.0.1:5000/app",
    ]
    assert summary.medians == {"soci": {"total": 31.0}, "no-soci": {"total": 40.5}}
    assert summary.steps[4].detail == "4 task(s) in us-east-1"
    xml = render_junit(summary)
    assert '<testsuites name="soci-ci" tests="7" failures="1" skipped="1"' in xml
    assert xml.endswith(
        '  <testsuite name="soci-ci.thresholds" tests="1" failures="1">\n'
        '    <testcase name="total p50 soci">\n'
        '      <failure message="31 s &gt; 30 s" />\n'
        "    </testcase>\n"
        "  </testsuite>\n"
        "</testsuites>\n"
    )


def test_probe_and_gate_read_the_resolved_settings(tmp_path: Path) -> None:
    """Overrides from the environment or flags reach the probe and gate steps too."""
    from soci_ci.cli.probe import load_probe_settings
    from soci_ci.config import load_config

    settings = {"version": 1, "probe": {"runs": 7}, "thresholds": {"allowed_failed_runs": 1}}
    runner = FakeRunner(tmp_path)
    options = _options(tmp_path, probe=True, config_path=Path("c.yml"), settings=settings)
    Pipeline(options, CTX, runner, gate_available=lambda: True).run()
    copy = tmp_path / "config.resolved.json"
    assert runner.calls[3][3:5] == ["--config", str(copy)]
    assert runner.calls[4][1:3] == ["--config", str(copy)]
    assert load_probe_settings(copy).runs == 7
    config = load_config(copy)
    assert (config.has_thresholds, config.thresholds.allowed_failed_runs) == (True, 1)


def test_invalid_config_exits_2_before_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from soci_ci.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".soci-ci.yml").write_text("version: 1\nimage:\n  repositry: x\n")
    assert main(["run"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("error: .soci-ci.yml:")
    assert "image: unknown key 'repositry'" in first
    assert not (tmp_path / ".soci-ci").exists()


def test_branch_runs_store_the_baseline_that_prs_read(tmp_path: Path) -> None:
    """A default-branch run writes its probe results; the PR's gate gets the matching key."""
    from datetime import UTC, datetime

    from soci_ci.gate.baseline import LocalStore, StoreKey, from_record
    from soci_ci.probe.model import ArmName, ArmResult, Phase, PhaseStats, ProbeResult, RunResult

    class ProbeWritingRunner(FakeRunner):
        def __call__(self, argv: list[str]) -> StepOutcome:
            outcome = super().__call__(argv)
            if argv[0] == "probe":
                runs = tuple(
                    RunResult(
                        arm=ArmName.SOCI,
                        index=i,
                        task_arn=None,
                        ok=True,
                        phases={Phase.TOTAL: 20.0 + i},
                    )
                    for i in range(1, 4)
                )
                stats = {
                    Phase.TOTAL: PhaseStats(
                        n=3, median=22.0, mean=22.0, p90=23.0, min=21.0, max=23.0, iqr=1.0
                    )
                }
                result = ProbeResult(
                    run_id="run-main",
                    started_at=datetime(2026, 11, 28, tzinfo=UTC),
                    region="us-east-1",
                    cluster="default",
                    arms=(
                        ArmResult(
                            name=ArmName.SOCI,
                            image="app@sha256:bb",
                            digest="sha256:bb",
                            runs=runs,
                            stats=stats,
                        ),
                    ),
                )
                Path(argv[argv.index("--output-json") + 1]).write_text(json.dumps(result.to_json()))
            return outcome

    store = tmp_path / "baselines"
    main_ctx = CiContext(
        provider=Provider.GITHUB, repository="o/r", sha="c0ffee" * 6 + "ab", branch="main"
    )
    pipeline = Pipeline(
        _options(tmp_path, probe=True, baseline_store=str(store), gate=False),
        main_ctx,
        ProbeWritingRunner(tmp_path),
        gate_available=lambda: True,
    )
    summary, code = pipeline.run()
    assert code == 0
    assert summary.steps[4].detail.endswith("baseline stored for main")
    key = StoreKey(repository="o/r", branch="main", image="127.0.0.1:5000/app")
    record = LocalStore(store).read(key)
    assert record is not None
    baseline = from_record(record, key)
    assert baseline.samples == (21.0, 22.0, 23.0)
    assert baseline.commit.startswith("c0ffee")
    # A PR run never writes the store.
    pr = Pipeline(
        _options(tmp_path / "pr", probe=True, baseline_store=str(store), gate=False),
        CTX,
        ProbeWritingRunner(tmp_path),
        gate_available=lambda: True,
    )
    (tmp_path / "pr").mkdir()
    pr.run()
    assert [p.name for p in store.rglob("*.json")] == ["127.0.0.1_5000_app.json"]


def _startup_result(failed: bool) -> object:
    from soci_ci.startup.step import StartupStepResult
    from soci_ci.startup.thresholds import LimitCheck, Outcome

    check = LimitCheck(
        name="startup.fetch_bytes <= 1000",
        outcome=Outcome.FAIL if failed else Outcome.PASS,
        message="fetch_bytes is 2000 (limit 1000)",
    )
    report = {"image": "app", "totals": {"fetch_bytes": 2000, "image_bytes": 9000}}
    return StartupStepResult(report=report, checks=(check,), detail="3 file(s) read")


@pytest.mark.parametrize("failed", [False, True])
def test_startup_step_runs_when_an_engine_is_reachable_and_gates_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failed: bool
) -> None:
    import soci_ci.startup.step as startup_step

    seen = []

    def fake(step: startup_step.StartupStep) -> object:
        seen.append(step)
        return _startup_result(failed)

    monkeypatch.setattr(startup_step, "run_startup_step", fake)
    options = _options(
        tmp_path, startup=None, startup_limits=({"metric": "fetch_bytes", "max": 1000},)
    )
    summary, code = Pipeline(
        options, CTX, FakeRunner(tmp_path), engine_available=lambda: True
    ).run()
    record = next(s for s in summary.steps if s.name == "startup")
    assert (record.status, record.detail) == (StepStatus.RAN, "3 file(s) read")
    step = seen[0]
    assert step.options.image == "127.0.0.1:5000/app@sha256:aa"
    assert step.options.soci_image == "127.0.0.1:5000/app@sha256:bb"
    assert step.pull_request and step.base_branch == "feature/slim image"  # no base_ref here
    assert summary.startup_markdown is not None and "fetch_bytes" in summary.startup_markdown
    if failed:
        assert (summary.verdict, code) == (Verdict.FAIL, 1)
        assert summary.reason == "startup threshold(s) failed: startup.fetch_bytes <= 1000"
    else:
        assert (summary.verdict, code) == (Verdict.NEUTRAL, 0)


def test_startup_step_skipped_without_an_engine(tmp_path: Path) -> None:
    options = _options(tmp_path, startup=None)
    summary, _ = Pipeline(options, CTX, FakeRunner(tmp_path), engine_available=lambda: False).run()
    record = next(s for s in summary.steps if s.name == "startup")
    assert (record.status, record.detail) == (
        StepStatus.SKIPPED,
        "no Docker engine reachable (startup.enabled: auto)",
    )

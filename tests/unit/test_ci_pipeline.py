"""The pipeline's typed calls, skips and verdicts with fake steps (no docker, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from soci_ci.app.options import (
    BuildOptions,
    GateOptions,
    IndexImageOptions,
    ProbeOptions,
    RegistryOptions,
    VerifyImageOptions,
)
from soci_ci.app.pipeline import FORK_REASON, Pipeline, RunOptions
from soci_ci.app.run_model import StepStatus
from soci_ci.ci.context import CiContext, Provider, expand_tags
from soci_ci.config import load_config_text
from soci_ci.errors import ExitCode, RegistryError
from soci_ci.gate.baseline import StoreKey
from soci_ci.gate.verdict import Verdict
from soci_ci.report.run import render_junit, render_markdown
from tests.support.pipeline import DIGEST_A, DIGEST_B, DIGEST_C, NO_DOCKER, FakeSteps
from tests.support.startup_reports import startup_report

CTX = CiContext(
    provider=Provider.GITHUB,
    repository="o/r",
    pr_number=5,
    sha="6dcb09b5b57875f334f61aebed695e2e4193db5e",
    branch="feature/slim image",
)
REPO = "127.0.0.1:5000/app"


def _options(yaml: str = "", **changes: object) -> RunOptions:
    config = load_config_text(f"version: 1\nimage:\n  repository: {REPO}\n{yaml}")
    return RunOptions(config=config, docker=NO_DOCKER, **({"work_dir": None} | changes))  # type: ignore[arg-type]


def test_full_run_without_probe_calls_build_index_verify() -> None:
    steps = FakeSteps()
    options = _options("  tags: ['{short_sha}', '{pr}']\n")
    summary = Pipeline(options, CTX, steps).run()
    assert summary.exit_code is ExitCode.OK
    assert steps.names == ["build", "index", "verify"]
    build = cast(BuildOptions, steps.options("build"))
    assert build.spec.tags == (f"{REPO}:6dcb09b", f"{REPO}:pr-5")
    assert cast(IndexImageOptions, steps.options("index")).image == f"{REPO}@{DIGEST_A}"
    verify = cast(VerifyImageOptions, steps.options("verify"))
    assert (verify.image, verify.sample) == (f"{REPO}@{DIGEST_B}", 200)
    assert [(s.name, s.status, s.detail) for s in summary.steps] == [
        ("build", StepStatus.RAN, f"pushed {REPO}@{DIGEST_A}"),
        ("index", StepStatus.RAN, "indexed: 1 zTOC(s), 2 layer(s) skipped"),
        ("verify", StepStatus.RAN, "index matches the layers"),
        ("startup", StepStatus.SKIPPED, "no Docker engine reachable (startup.enabled: auto)"),
        ("probe", StepStatus.SKIPPED, "disabled (probe.enabled: false)"),
        ("gate", StepStatus.SKIPPED, "no cold-start measurement to judge"),
    ]
    assert summary.verdict is Verdict.NEUTRAL
    assert (summary.image_digest, summary.soci_index_digest) == (DIGEST_A, DIGEST_C)


def test_every_option_of_the_single_commands_is_reachable_from_the_config() -> None:
    steps = FakeSteps()
    yaml = (
        "  target: final\n  labels: {team: perf}\n  network: none\n  pull: true\n"
        "  builder: sdk\n"
        "soci:\n  platforms: [linux/arm64]\n  build_tool_identifier: AWS SOCI CLI v0.2\n"
        "  force: true\n  workers: 3\n  optimizations: [xattr]\n  tag: mine\n"
        "  overwrite_tag: true\n  verify: {sample: 0, seed: 9}\n"
    )
    registry = RegistryOptions(username="u", password="p", timeout=5)
    options = _options(yaml, build_platforms=("linux/arm64",), registry=registry)
    Pipeline(options, CTX, steps).run()
    build = cast(BuildOptions, steps.options("build"))
    spec = build.spec
    assert (spec.target, dict(spec.labels), spec.platform) == (
        "final",
        {"org.opencontainers.image.revision": CTX.sha, "team": "perf"},
        "linux/arm64",
    )
    assert (spec.network, spec.pull, str(build.builder), build.registry) == (
        "none",
        True,
        "sdk",
        registry,
    )
    index = cast(IndexImageOptions, steps.options("index"))
    assert [str(p) for p in index.index.platforms] == ["linux/arm64"]
    assert index.index.build_tool_identifier == "AWS SOCI CLI v0.2"
    assert (index.index.reuse, index.index.workers, index.index.optimize_xattrs) == (False, 3, True)
    assert (index.index.tag, index.overwrite_tag, index.registry) == ("mine", True, registry)
    verify = cast(VerifyImageOptions, steps.options("verify"))
    assert (verify.sample, verify.seed) == (None, 9)  # 0: every file


def test_failed_step_stops_the_rest_and_keeps_its_exit_code() -> None:
    steps = FakeSteps(
        raises={"index": RegistryError("401 denied https://u:pw@r.example/v2?token=x")}
    )
    summary = Pipeline(_options(), CTX, steps).run()
    assert summary.exit_code is ExitCode.REGISTRY
    assert summary.verdict is Verdict.ERROR
    assert summary.reason == "the index step failed: 401 denied https://r.example/v2?token=***"
    assert [s.detail for s in summary.steps[2:]] == ["index failed"] * 4


def test_an_unexpected_exception_is_reported_as_a_bug() -> None:
    steps = FakeSteps(raises={"verify": KeyError("layers")})
    summary = Pipeline(_options(), CTX, steps).run()
    assert (summary.verdict, summary.exit_code) == (Verdict.ERROR, ExitCode.INTERNAL)
    assert summary.reason == "the verify step failed: internal error: KeyError: 'layers'"
    assert summary.steps[2].status is StepStatus.FAILED


def test_verify_mismatch_is_a_failed_check() -> None:
    steps = FakeSteps(verify_problem="span 3 differs")
    summary = Pipeline(_options(), CTX, steps).run()
    assert (summary.verdict, summary.exit_code) == (Verdict.FAIL, ExitCode.CHECK_FAILED)
    assert summary.reason == (
        "the verify step failed: the SOCI index does not match the layers: span 3 differs"
    )


def test_fork_runs_nothing_and_is_neutral() -> None:
    steps = FakeSteps()
    fork = CiContext(provider=Provider.GITHUB, repository="o/r", pr_number=6, fork=True)
    summary = Pipeline(_options(), fork, steps).run()
    assert (summary.verdict, summary.exit_code, summary.reason) == (
        Verdict.NEUTRAL,
        ExitCode.OK,
        FORK_REASON,
    )
    assert steps.calls == []


def test_existing_image_skips_build() -> None:
    steps = FakeSteps()
    image = f"r.example/app@{DIGEST_A}"
    options = _options("soci:\n  verify: {enabled: false}\n", image=image)
    summary = Pipeline(options, CTX, steps).run()
    assert steps.names == ["index"]
    assert summary.steps[0].detail == f"using the existing image {image}"


def test_tags_drop_unknown_values() -> None:
    local = CiContext(provider=Provider.LOCAL)
    assert expand_tags(("{sha}", "{pr}"), local) == ("latest",)
    assert expand_tags(("{branch}-{short_sha}", "v1"), CTX) == ("feature-slim-image-6dcb09b", "v1")


def test_junit_one_case_per_step() -> None:
    steps = FakeSteps(verify_problem='bad "span" <3>')
    summary = Pipeline(_options(), CTX, steps).run()
    xml = render_junit(summary)
    assert xml.count("<testcase ") == 6
    message = "the SOCI index does not match the layers: bad &quot;span&quot; &lt;3&gt;"
    assert f'<failure message="{message}">' in xml
    assert xml.count("<skipped ") == 3


PROBE = "probe:\n  enabled: true\n  poll_seconds: 0.5\n"
THRESHOLDS = (
    "thresholds:\n  absolute:\n    - {phase: total, stat: p50, arm: soci, max_seconds: 30}\n"
)


def test_probe_and_failing_gate() -> None:
    steps = FakeSteps()
    summary = Pipeline(_options(PROBE + THRESHOLDS), CTX, steps).run()
    assert (summary.verdict, summary.exit_code) == (Verdict.FAIL, ExitCode.CHECK_FAILED)
    assert summary.reason == "soci total p50 31.00s exceeds 30s"
    probe = cast(ProbeOptions, steps.options("probe"))
    assert (probe.images.no_soci, probe.images.soci) == (f"{REPO}@{DIGEST_A}", f"{REPO}@{DIGEST_B}")
    assert probe.poll_seconds == 0.5
    gate = cast(GateOptions, steps.options("gate"))
    assert gate.index_digest == DIGEST_C
    assert gate.baseline.key == StoreKey(repository="o/r", branch="feature/slim image", image=REPO)
    assert summary.medians["soci"]["total"] == 31.0
    assert summary.steps[4].detail == "6 task(s) in us-east-1"
    xml = render_junit(summary)
    assert '<testsuites name="soci-ci" tests="11" failures="1" skipped="2"' in xml
    assert '  <testsuite name="soci-ci gate" tests="5" failures="1" errors="0" skipped="1">' in xml
    body = render_markdown(summary, marker="<!-- m -->")
    assert "### Thresholds" in body and "### Cold starts" not in body
    assert body.count("<!--") == 1  # one marker: the gate's section has none of its own


def test_probe_settings_come_from_the_resolved_config() -> None:
    steps = FakeSteps()
    Pipeline(_options(PROBE + "  runs: 7\n"), CTX, steps).run()
    assert cast(ProbeOptions, steps.options("probe")).settings.runs == 7
    assert "gate" not in steps.names


def test_invalid_config_reports_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from soci_ci.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".soci-ci.yml").write_text("version: 1\nimage:\n  repositry: x\n")
    assert main(["run"]) == 2
    out, err = capsys.readouterr()
    first = err.splitlines()[0]
    assert first.startswith("error: .soci-ci.yml:")
    assert "image: unknown key 'repositry'" in first
    assert "**Verdict:** ❌ error — .soci-ci.yml:" in out  # the report is still written
    assert not (tmp_path / ".soci-ci").exists()


def test_branch_runs_store_the_baseline_that_prs_read() -> None:
    steps = FakeSteps()
    main_ctx = CiContext(
        provider=Provider.GITHUB, repository="o/r", sha="c0ffee" * 6 + "ab", branch="main"
    )
    options = _options(PROBE + "baseline:\n  store: /tmp/store\n")
    summary = Pipeline(options, main_ctx, steps).run()
    assert summary.exit_code is ExitCode.OK
    assert summary.steps[4].detail.endswith("baseline stored for main")
    assert steps.stored == [
        ("/tmp/store", StoreKey(repository="o/r", branch="main", image=REPO), "c0ffee" * 6 + "ab")
    ]
    pr_steps = FakeSteps()
    Pipeline(options, CTX, pr_steps).run()  # a PR run never writes the store
    assert pr_steps.stored == []


def test_hostile_text_in_the_report_is_defused() -> None:
    """A branch name, a registry message and image metadata an attacker controls."""
    hostile = CiContext(
        provider=Provider.GITHUB,
        repository="o/r",
        pr_number=5,
        branch="x<img src=x onerror=alert(1)>@maintainer#1",
    )
    message = "denied: see https://evil.example/login?sig=1 and ping @admins | <!-- --> [x](y)"
    steps = FakeSteps(raises={"index": RegistryError(message)})
    body = render_markdown(Pipeline(_options(), hostile, steps).run(), marker="<!-- m -->")
    assert "<img" not in body and "<!-- -->" not in body
    assert body.count("<!--") == 1
    assert "`@admins`" in body and "`https://evil.example/login?sig=***`" in body
    assert "\\[x\\](y)" in body
    for line in body.splitlines():
        if line.startswith("| index |"):
            assert line.count("|") == 4  # the message's pipe did not add a cell


def test_merge_commit_build_says_which_commit_it_is() -> None:
    """On a GitHub PR the checkout is the merge commit; the tags' {sha} is the PR head."""
    steps = FakeSteps()
    ctx = CiContext(
        provider=Provider.GITHUB, repository="o/r", pr_number=7, sha="a" * 40, built_sha="b" * 40
    )
    Pipeline(_options("  tags: ['{sha}']\n"), ctx, steps).run()
    spec = cast(BuildOptions, steps.options("build")).spec
    assert dict(spec.labels) == {
        "org.opencontainers.image.revision": "b" * 40,
        "dev.soci-ci.tag-commit": "a" * 40,
    }
    assert spec.tags[0].endswith(":" + "a" * 40)


def test_startup_runs_before_verify_which_checks_the_files_read_at_start() -> None:
    from soci_ci.startup.step import StartupStepResult, working_set_of

    one, two = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    read = [("/app/server", one), ("/etc/app.conf", two), ("/app/lib.so", one)]
    measured = startup_report(f"{REPO}@{DIGEST_A}", DIGEST_A, read)

    class WithStartup(FakeSteps):
        def startup(self, step: object) -> StartupStepResult:
            self._call("startup", step)
            return StartupStepResult(
                report=measured.to_json(),
                working_set=working_set_of(measured),
                checks=(),
                detail="3 file(s)",
            )

    steps = WithStartup(engine=True)
    summary = Pipeline(_options(), CTX, steps).run()
    assert summary.exit_code is ExitCode.OK, summary.reason
    assert steps.names == ["build", "index", "startup", "verify"]
    verify = cast(VerifyImageOptions, steps.options("verify"))
    assert verify.working_set == {one: ("/app/server", "/app/lib.so"), two: ("/etc/app.conf",)}
    # The report keeps its order of steps.
    assert [s.name for s in summary.steps] == [
        "build",
        "index",
        "verify",
        "startup",
        "probe",
        "gate",
    ]
    no_startup = FakeSteps()
    Pipeline(_options(), CTX, no_startup).run()
    assert cast(VerifyImageOptions, no_startup.options("verify")).working_set is None

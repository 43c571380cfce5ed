"""`soci-ci run` settings: flags and action inputs, environment, file and defaults go through
`soci_ci.config.resolve` once; RunOptions come from the resolved config; `--explain`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from soci_ci.app.pipeline import RunOptions
from soci_ci.cli import build_parser, main
from soci_ci.cli.environment import read_environment
from soci_ci.cli.run import resolve_settings, run_arguments, run_options
from soci_ci.config.resolve import ENV_ALIASES
from soci_ci.errors import ConfigError

CONFIG = (
    "version: 1\n"
    "image:\n"
    "  repository: file/repo\n"
    "  context: app\n"
    "  tags: ['{sha}']\n"
    "soci:\n"
    "  verify: {enabled: false, sample: 50}\n"
    "probe:\n"
    "  runs: 3\n"
    "report:\n"
    "  junit: out/junit.xml\n"
)
SECRET = "ghs_e2eTOKENthatMUSTnotLEAK"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with .soci-ci.yml and an environment without soci-ci or input variables."""
    import os

    for name in list(os.environ):
        if name.startswith(("SOCI_CI_", "INPUT_", "GITHUB_", "CODEBUILD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".soci-ci.yml").write_text(CONFIG)
    return tmp_path


def _options(argv: list[str], env: dict[str, str]) -> RunOptions:
    args = build_parser().parse_args(["run", *argv])
    arguments = run_arguments(args, env)
    resolved = resolve_settings(args, env, arguments.config_path)
    return run_options(resolved, arguments, read_environment(env))


def test_flag_beats_env_beats_file_beats_default(workspace: Path) -> None:
    config = _options([], {}).config
    image, soci = config.image, config.soci
    assert (image.repository, image.context, config.probe.enabled) == ("file/repo", "app", False)
    assert (soci.verify.enabled, soci.verify.sample, config.report.junit) == (
        False,
        50,
        "out/junit.xml",
    )
    assert (config.report.comment, soci.format, config.has_thresholds) == (True, "v2", False)
    env = {
        "SOCI_CI_REPOSITORY": "env/repo",
        "SOCI_CI_VERIFY": "true",
        "SOCI_CI_SOCI_VERIFY_SAMPLE": "7",
        "SOCI_CI_PROBE": "true",
        "SOCI_CI_REPORT_COMMENT": "false",
    }
    config = _options([], env).config
    verify = config.soci.verify
    assert (config.image.repository, verify.enabled, verify.sample) == ("env/repo", True, 7)
    assert (config.probe.enabled, config.report.comment, config.image.context) == (
        True,
        False,
        "app",
    )
    argv = ["--repository", "flag/repo", "--no-verify", "--comment", "--tag", "t"]
    config = _options(argv, env).config
    assert (config.image.repository, config.soci.verify.enabled, config.report.comment) == (
        "flag/repo",
        False,
        True,
    )
    assert (config.image.tags, config.soci.verify.sample) == (("t",), 7)
    assert (config.probe.settings.runs, config.probe.enabled) == (3, True)


def test_action_inputs_beat_the_environment_and_flags_beat_inputs(workspace: Path) -> None:
    env = {
        "SOCI_CI_REPOSITORY": "env/repo",
        "INPUT_REPOSITORY": "input/repo",
        "SOCI_CI_TAGS": "env",
        "INPUT_TAGS": "a, b\nc",
        "INPUT_PROBE": "yes",
        "INPUT_JUNIT-FILE": "input.xml",
        "INPUT_SUMMARY": "",  # an empty input is unset
        "SOCI_CI_SUMMARY": "false",
    }
    config = _options(["--from-env"], env).config
    assert (config.image.repository, config.image.tags, config.probe.enabled) == (
        "input/repo",
        ("a", "b", "c"),
        True,
    )
    assert (config.report.junit, config.report.summary) == ("input.xml", False)
    # Without --from-env the inputs are not read.
    assert _options([], env).config.image.repository == "env/repo"
    flagged = _options(["--from-env", "--repository", "flag/repo"], env)
    assert flagged.config.image.repository == "flag/repo"


def test_every_config_input_of_the_action_is_an_alias() -> None:
    from soci_ci.cli.run import INPUTS

    plain = {name for name, var in INPUTS.items() if var not in ENV_ALIASES}
    assert plain == {
        "config",
        "image",
        "work-dir",
        "explain",
        "cache-from",
        "cache-to",
        "secrets",
        "registry",
        "username",
        "password",
    }


def test_run_arguments_flag_then_input_then_variable(workspace: Path) -> None:
    env = {"SOCI_CI_IMAGE": "env/img:1", "SOCI_CI_WORK_DIR": "env-work", "INPUT_IMAGE": "in/i:1"}
    args = build_parser().parse_args(["run"])
    got = run_arguments(args, env)
    assert (got.image, got.work_dir) == ("env/img:1", Path("env-work"))
    assert got.config_path == Path(".soci-ci.yml")  # the default file, as it exists
    assert run_arguments(args, {"SOCI_CI_CONFIG": "other.yml"}).config_path == Path("other.yml")
    args = build_parser().parse_args(["run", "--from-env"])
    assert run_arguments(args, env).image == "in/i:1"
    args = build_parser().parse_args(["run", "--from-env", "--image", "flag/i:1"])
    assert run_arguments(args, env).image == "flag/i:1"
    args = build_parser().parse_args(["run"])
    got = run_arguments(args, {})
    # No work-dir: no step results are written (nothing of soci-ci in the workspace).
    assert (got.work_dir, got.explain) == (None, False)


def test_the_default_config_file_is_optional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The action passes `config: .soci-ci.yml` (its default): a missing file is no config."""
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["run", "--from-env"])
    assert run_arguments(args, {"INPUT_CONFIG": ".soci-ci.yml"}).config_path is None
    assert run_arguments(args, {"INPUT_CONFIG": "ci/soci.yml"}).config_path == Path("ci/soci.yml")


def test_secrets_input_lines_and_errors_without_values() -> None:
    from soci_ci.cli.run import parse_secrets
    from soci_ci.errors import UsageError

    assert parse_secrets("npm=abc=def\n\n GIT_TOKEN=x \n", "input 'secrets'") == (
        ("npm", "abc=def"),
        ("GIT_TOKEN", "x"),
    )
    with pytest.raises(UsageError) as err:
        parse_secrets("just-a-s3cret-value", "input 'secrets'")
    assert "s3cret" not in str(err.value) and "line 1" in str(err.value)


def test_thresholds_turn_the_gate_on(workspace: Path) -> None:
    (workspace / ".soci-ci.yml").write_text(CONFIG + "thresholds:\n  allowed_failed_runs: 1\n")
    assert _options([], {}).config.has_thresholds is True


def test_explain_prints_every_setting_with_its_source_and_stops(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    monkeypatch.setenv("INPUT_GITHUB-TOKEN", SECRET)
    monkeypatch.setenv("SOCI_CI_REGISTRY_PASSWORD", SECRET)
    monkeypatch.setenv("SOCI_CI_PROBE_RUNS", "7")
    monkeypatch.setenv("SOCI_CI_REPOSITORY", "env/repo")
    monkeypatch.setenv("INPUT_TAGS", "v1")
    assert main(["run", "--from-env", "--explain", "--dockerfile", "Dockerfile.ci"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines == sorted(lines)
    assert all(re.fullmatch(r"[a-z_.]+ = .+ \((flag|environment|file|default)\)", x) for x in lines)
    assert {
        'image.dockerfile = "Dockerfile.ci" (flag)',
        'image.tags = ["v1"] (flag)',
        'image.repository = "env/repo" (environment)',
        "probe.runs = 7 (environment)",
        'image.context = "app" (file)',
        "soci.verify.enabled = false (file)",
        "probe.concurrency = 4 (default)",
        "probe.enabled = false (default)",
    } <= set(lines)
    assert SECRET not in out + err
    assert "config file .soci-ci.yml" in err
    assert not (workspace / ".soci-ci").exists()  # the pipeline did not run


def test_the_explain_input_explains(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INPUT_EXPLAIN", "true")
    assert main(["run", "--from-env"]) == 0
    assert "probe.runs = 3 (file)" in capsys.readouterr().out.splitlines()
    monkeypatch.setenv("INPUT_EXPLAIN", "sure")
    assert main(["run", "--from-env"]) == 2
    assert "error: input 'explain': 'sure' is not true or false" in capsys.readouterr().err


def test_a_bad_variable_exits_2_naming_it(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOCI_CI_PROBE_RUNS", "abc")
    assert main(["run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: SOCI_CI_PROBE_RUNS: probe.runs: 'abc' is not of type 'integer'"
    assert not (workspace / ".soci-ci").exists()
    with pytest.raises(ConfigError, match=r"^input 'probe': probe.enabled: 'maybe' is not"):
        _options(["--from-env"], {"INPUT_PROBE": "maybe"})


def test_file_errors_keep_their_line(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / ".soci-ci.yml").write_text("version: 1\nprobe:\n  runs: abc\n")
    assert main(["run", "--explain"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: .soci-ci.yml:3: probe.runs: 'abc' is not of type 'integer'"
    )


def test_build_and_index_settings_reach_the_run_options(workspace: Path) -> None:
    options = _options([], {})
    image, soci = options.config.image, options.config.soci
    assert (image.target, dict(image.labels), options.build_platforms) == (None, {}, ())
    assert (soci.platforms, soci.build_tool_identifier) == ((), None)
    (workspace / ".soci-ci.yml").write_text(
        CONFIG.replace(
            "  tags: ['{sha}']\n",
            "  tags: ['{sha}']\n  target: final\n  labels: {team: perf}\n"
            "  platforms: [linux/arm64]\n",
        ).replace("soci:\n", "soci:\n  platforms: [linux/arm64]\n  build_tool_identifier: X\n")
    )
    options = _options([], {})
    image, soci = options.config.image, options.config.soci
    assert (image.target, dict(image.labels), options.build_platforms) == (
        "final",
        {"team": "perf"},
        ("linux/arm64",),
    )
    assert (soci.platforms, soci.build_tool_identifier) == (("linux/arm64",), "X")

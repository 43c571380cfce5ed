"""`soci-ci run`: the whole pipeline (build, push, index, verify, probe, gate, report).

Settings are config keys, resolved in one place, `soci_ci.config.resolve.resolve`: flags >
environment (``SOCI_CI_*``) > config file > defaults. With ``--from-env`` the action's
inputs (``INPUT_*``) count as flags: on GitHub the runner sets both ``INPUT_TAGS`` and,
through action.yml's ``runs.env``, ``SOCI_CI_TAGS`` to the same value, and the input wins
over anything else in the environment; a flag typed on the command line wins over an input.
Flags and inputs map to config keys through the variable action.yml gives them
(`INPUTS`, then `soci_ci.config.resolve.ENV_ALIASES`): ``--tag``/``tags``/``SOCI_CI_TAGS``
set ``image.tags``. `RunOptions` are derived from the resolved, validated config only.

Not config keys, so plain run arguments (flag > action input > variable > default):
``--config`` (``config``, ``SOCI_CI_CONFIG``; default ``.soci-ci.yml`` when it exists),
``--image`` (``image``, ``SOCI_CI_IMAGE``: an image already pushed, skips the build),
``--work-dir`` (``work-dir``, ``SOCI_CI_WORK_DIR``; default a temporary directory outside the
workspace, removed at the end), ``--explain``
(``explain``, ``SOCI_CI_EXPLAIN``: print every setting with its source and stop) and the
test seam ``SOCI_CI_ECS_ENDPOINT`` (the probe's ECS/Logs endpoint). The build's BuildKit
options: ``cache-from``/``cache-to`` (``SOCI_CI_CACHE_FROM``/``_TO``, buildx specs, one a line)
and ``secrets`` (``SOCI_CI_BUILD_SECRETS``, ``id=value`` lines: each value goes to buildx in a
variable of this process, never on a command line, and is masked). The registry login
inputs ``registry``/``username``/``password`` are read from their variables
(``SOCI_CI_REGISTRY_HOST``/``_USERNAME``/``_PASSWORD``) by the commands themselves.
The work itself is ``soci_ci.app.pipeline``; reporting is ``soci_ci.ci.publish``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.errors import SociCiError, UsageError

if TYPE_CHECKING:
    from soci_ci.app.pipeline import RunOptions, StepOutcome
    from soci_ci.config.resolve import Resolved

DEFAULT_CONFIG = ".soci-ci.yml"
SECRET_ENV_PREFIX = "SOCI_CI_BUILD_SECRET_"  # noqa: S105 - a variable name prefix
_SECRET_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# action input (= flag name) -> the variable action.yml's runs.env sets from it. Inputs whose
# variable is in soci_ci.config.resolve.ENV_ALIASES are config keys; the others are run arguments.
INPUTS: dict[str, str] = {
    "config": "SOCI_CI_CONFIG",
    "image": "SOCI_CI_IMAGE",
    "repository": "SOCI_CI_REPOSITORY",
    "context": "SOCI_CI_CONTEXT",
    "dockerfile": "SOCI_CI_DOCKERFILE",
    "tags": "SOCI_CI_TAGS",
    "soci": "SOCI_CI_SOCI",
    "verify": "SOCI_CI_VERIFY",
    "probe": "SOCI_CI_PROBE",
    "comment": "SOCI_CI_COMMENT",
    "summary": "SOCI_CI_SUMMARY",
    "junit-file": "SOCI_CI_JUNIT_FILE",
    "work-dir": "SOCI_CI_WORK_DIR",
    "explain": "SOCI_CI_EXPLAIN",
    "cache-from": "SOCI_CI_CACHE_FROM",
    "cache-to": "SOCI_CI_CACHE_TO",
    "secrets": "SOCI_CI_BUILD_SECRETS",
    "registry": "SOCI_CI_REGISTRY_HOST",
    "username": "SOCI_CI_REGISTRY_USERNAME",
    "password": "SOCI_CI_REGISTRY_PASSWORD",
}
ECS_ENDPOINT_ENV = "SOCI_CI_ECS_ENDPOINT"
REGISTRY_HOST_ENV = "SOCI_CI_REGISTRY_HOST"  # action input `registry`
_FLAG_SPELLING = {"tags": "--tag"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="build, push, index, verify, probe, gate and report in one go",
        description="The whole pipeline. Settings: flags (and action inputs) > SOCI_CI_* "
        "environment > config file > defaults; --explain shows each one with its source. "
        "Exit codes: 0 pass or neutral, 1 a threshold or verify check failed, 2 and above: "
        "errors (see README).",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help=f"default {DEFAULT_CONFIG}")
    parser.add_argument("--from-env", action="store_true", help="GitHub action / CodeBuild mode")
    parser.add_argument("--image", metavar="REF", help="use this pushed image; skip the build")
    parser.add_argument("--repository", metavar="REGISTRY/REPO", help="image.repository")
    parser.add_argument("--context", type=Path, help="image.context")
    parser.add_argument("--dockerfile", help="image.dockerfile")
    parser.add_argument(
        "--tag", action="append", dest="tags", metavar="TEMPLATE", help="image.tags"
    )
    for name, key in (
        ("soci", "soci.enabled"),
        ("verify", "soci.verify.enabled"),
        ("probe", "probe.enabled"),
        ("comment", "report.comment"),
        ("summary", "report.summary"),
    ):
        parser.add_argument(
            f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=key
        )
    parser.add_argument("--junit-file", type=Path, metavar="FILE", help="report.junit")
    parser.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="keep the step outputs (JSON) here (default: a temporary directory, removed)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        default=None,
        help="print every setting as `path = value (source)` and exit without running",
    )
    parser.set_defaults(func=run)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunArguments:
    """What `soci-ci run` takes besides config keys (see the module docstring)."""

    config_path: Path | None = None
    image: str | None = None
    work_dir: Path | None = None  # None: a temporary directory outside the workspace
    explain: bool = False
    ecs_endpoint: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()  # (id, value) from the `secrets` input
    registry_host: str | None = None  # SOCI_CI_REGISTRY_HOST: where explicit credentials go


def _lines(value: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (value or "").splitlines() if line.strip())


def parse_secrets(value: str | None, where: str) -> tuple[tuple[str, str], ...]:
    """`id=value` lines (docker/build-push-action's `secrets`); errors never show a value."""
    found: list[tuple[str, str]] = []
    for number, line in enumerate(_lines(value), 1):
        key, sep, secret = line.partition("=")
        if not sep or not _SECRET_ID.fullmatch(key.strip()):
            raise UsageError(
                f"{where}: line {number} must be ID=VALUE with an ID of letters, digits, _ . -",
                hint="one secret a line; the Dockerfile reads it with "
                "RUN --mount=type=secret,id=ID",
            )
        found.append((key.strip(), secret))
    return tuple(found)


def _flag_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return value


def config_flags(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The flag layer of `resolve`: dotted path -> value, and how each one was spelled.

    Action inputs (``--from-env``) first, then command-line flags over them.
    """
    from soci_ci.ci.github_env import read_input  # noqa: PLC0415
    from soci_ci.config.resolve import ENV_ALIASES, parse_value  # noqa: PLC0415

    flags: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, variable in INPUTS.items():
        path = ENV_ALIASES.get(variable)
        if path is None:
            continue
        raw = read_input(environ, name) if args.from_env else None
        if raw is not None:
            labels[path] = f"input {name!r}"
            flags[path] = parse_value(path, raw, where=labels[path])
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None:
            labels[path] = _FLAG_SPELLING.get(name, f"--{name}")
            flags[path] = _flag_value(value)
    return flags, labels


def run_arguments(args: argparse.Namespace, environ: Mapping[str, str]) -> RunArguments:
    """The run arguments: flag > action input (``--from-env``) > variable > default."""
    from soci_ci.ci.github_env import read_input  # noqa: PLC0415
    from soci_ci.config.resolve import parse_bool  # noqa: PLC0415

    def pick(name: str) -> tuple[str | None, str]:
        flag = getattr(args, name.replace("-", "_"), None)
        if flag is not None:
            return str(flag), f"--{name}"
        raw = read_input(environ, name) if args.from_env else None
        if raw is not None:
            return raw, f"input {name!r}"
        return environ.get(INPUTS[name], "").strip() or None, INPUTS[name]

    config, _ = pick("config")
    if config in (None, DEFAULT_CONFIG):
        # The default file is optional: inputs-only use needs no `config: ""`.
        config = DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None
    image, _ = pick("image")
    work_dir, _ = pick("work-dir")
    explain, where = pick("explain")
    secrets_text, secrets_where = pick("secrets")
    return RunArguments(
        config_path=Path(config) if config else None,
        image=image,
        work_dir=Path(work_dir) if work_dir else None,
        explain=explain is not None and parse_bool(explain, where=where),
        ecs_endpoint=environ.get(ECS_ENDPOINT_ENV, "").strip() or None,
        cache_from=_lines(pick("cache-from")[0]),
        cache_to=_lines(pick("cache-to")[0]),
        secrets=parse_secrets(secrets_text, secrets_where),
        registry_host=environ.get(REGISTRY_HOST_ENV, "").strip() or None,
    )


def resolve_settings(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    config_path: Path | None,
    *,
    file_data: Mapping[str, Any] | None = None,
) -> Resolved:
    """Defaults < file < environment < flags and action inputs, through `resolve`.

    ``file_data``: the file layer already read (on a pull request: with its trusted settings
    from the base branch, `soci_ci.app.run_trust`); else the file at ``config_path``.
    """
    from soci_ci.config.loader import read_config_data  # noqa: PLC0415 - jsonschema lazily
    from soci_ci.config.resolve import resolve  # noqa: PLC0415

    if file_data is None:
        file_data = read_config_data(config_path) if config_path is not None else {}
    flags, labels = config_flags(args, environ)
    name = str(config_path) if config_path is not None else "<settings>"
    return resolve(file_data, env=environ, flags=flags, labels=labels, name=name)


def run_options(
    resolved: Resolved, arguments: RunArguments, work_dir: Path | None = None
) -> RunOptions:
    """The pipeline's options, from the resolved config and the run arguments only."""
    from soci_ci.app.pipeline import RunOptions  # noqa: PLC0415
    from soci_ci.config.resolve import Origin  # noqa: PLC0415

    config = resolved.config
    image, soci, report = config.image, config.soci, config.report
    verify = soci["verify"]
    return RunOptions(
        config_path=arguments.config_path,
        settings=resolved.merged,
        repository=image["repository"],
        image=arguments.image,
        context=Path(image["context"]),
        dockerfile=str(image["dockerfile"]),
        build_args={str(k): str(v) for k, v in image["build_args"].items()},
        target=image["target"],
        labels={str(k): str(v) for k, v in image["labels"].items()},
        # The default platform list is what the engine builds anyway: say it only when asked.
        platforms=(
            tuple(str(p) for p in image["platforms"])
            if resolved.origin.get("image.platforms") is not Origin.DEFAULT
            else ()
        ),
        tags=tuple(str(t) for t in image["tags"]),
        soci=bool(soci["enabled"]),
        soci_format=str(soci["format"]),
        soci_tag=soci["tag"],
        soci_platforms=tuple(str(p) for p in soci["platforms"]),
        build_tool_identifier=soci["build_tool_identifier"],
        span_size=int(soci["span_size"]),
        min_layer_size=int(soci["min_layer_size"]),
        verify=bool(verify["enabled"]),
        verify_sample=int(verify["sample"]),
        startup=config.data.get("startup", {}).get("enabled"),
        startup_config=dict(config.data.get("startup") or {}),
        probe_config=dict(config.probe),
        startup_limits=tuple(config.data.get("thresholds", {}).get("startup") or ()),
        probe=bool(config.probe["enabled"]),
        gate=config.has_thresholds,
        ecs_endpoint=arguments.ecs_endpoint,
        registry_host=arguments.registry_host,
        baseline_store=config.baseline["store"],
        comment=bool(report["comment"]),
        summary=bool(report["summary"]),
        junit=Path(report["junit"]) if report["junit"] else None,
        work_dir=work_dir or arguments.work_dir or Path(".soci-ci"),
        cache_from=arguments.cache_from,
        cache_to=arguments.cache_to,
        build_secrets=tuple(
            f"id={key},env={SECRET_ENV_PREFIX}{n}" for n, (key, _) in enumerate(arguments.secrets)
        ),
    )


def _run_step(argv: list[str], records: dict[str, Any] | None = None) -> StepOutcome:
    """One documented command, in-process; errors become an outcome with their message.

    `records` is shared by the steps of one run: `index` leaves there what its layer reads
    proved, and `verify` uses it instead of downloading the layers again.
    """
    from soci_ci.app.pipeline import StepOutcome  # noqa: PLC0415
    from soci_ci.cli import build_parser, report_error  # noqa: PLC0415

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return StepOutcome(code=int(exc.code or 2), message="bad arguments: " + " ".join(argv))
    args.run_records = records
    try:
        return StepOutcome(code=int(args.func(args)))
    except SociCiError as exc:
        report_error(exc, debug=False)
        return StepOutcome(code=int(exc.exit_code), message=" ".join(str(exc).split()))


def run(args: argparse.Namespace) -> int:
    arguments = run_arguments(args, os.environ)
    # Default work directory: a fresh temporary one outside the workspace (never in the build
    # context), removed at the end.
    work_dir = arguments.work_dir or Path(tempfile.mkdtemp(prefix="soci-ci-run-"))
    try:
        return _run(args, arguments, work_dir)
    finally:
        if arguments.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


def _run(args: argparse.Namespace, arguments: RunArguments, work_dir: Path) -> int:
    from soci_ci.app.pipeline import Pipeline  # noqa: PLC0415
    from soci_ci.app.run_trust import confine_paths, trusted_file_layer  # noqa: PLC0415
    from soci_ci.ci.context import Provider, confirm_origin, detect_context  # noqa: PLC0415
    from soci_ci.ci.github_output import format_mask  # noqa: PLC0415
    from soci_ci.ci.ownership import give_to_workspace_owner  # noqa: PLC0415
    from soci_ci.ci.publish import PublishOptions, publish  # noqa: PLC0415
    from soci_ci.ci.pull_request_api import github_lookup  # noqa: PLC0415
    from soci_ci.ci.secrets import resolve_token  # noqa: PLC0415
    from soci_ci.ci.workflow_commands import neutralize, one_line  # noqa: PLC0415
    from soci_ci.workspace import workspace_root  # noqa: PLC0415

    environ = os.environ
    config_path = arguments.config_path
    workspace = workspace_root(environ)

    event_text = None
    if environ.get("GITHUB_EVENT_PATH"):
        try:
            event_text = Path(environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read GITHUB_EVENT_PATH: {exc.strerror}") from exc
    in_actions = environ.get("GITHUB_ACTIONS") == "true"
    token = resolve_token(environ)
    if token and in_actions:
        for line in format_mask(token):
            print(line, flush=True)
    for number, (_, secret) in enumerate(arguments.secrets):
        os.environ[f"{SECRET_ENV_PREFIX}{number}"] = secret  # buildx reads it (env=...)
        if in_actions and secret:
            for line in format_mask(secret):
                print(line, flush=True)
    password = environ.get("SOCI_CI_REGISTRY_PASSWORD", "")
    if in_actions and password:
        for line in format_mask(password):
            print(line, flush=True)
    ctx = detect_context(environ, event_text, token=token)
    ctx = confirm_origin(ctx, github_lookup(api_url=ctx.api_url, token=token))
    file_data, trust = trusted_file_layer(config_path, workspace=workspace, ctx=ctx, token=token)
    resolved = resolve_settings(args, environ, config_path, file_data=file_data)
    notes = trust.report_lines()
    for line in notes:
        print(f"soci-ci run: {one_line(line)}", file=sys.stderr)
    if arguments.explain:
        print(f"soci-ci run: config file {config_path or '(none)'}", file=sys.stderr)
        for line in resolved.explain():
            print(neutralize(line))
        return 0
    options = confine_paths(
        run_options(resolved, arguments, work_dir), workspace=workspace, environ=environ
    )
    if not options.comment:
        ctx = replace(ctx, token=None)
    records: dict[str, Any] = {}  # index -> verify, in this process (see _run_step)
    summary, code = Pipeline(options, ctx, lambda argv: _run_step(argv, records)).run()
    summary = replace(summary, notes=tuple(notes))
    published = publish(
        summary,
        ctx,
        PublishOptions(
            comment=options.comment,
            summary=options.summary,
            junit=options.junit,
            config_file=str(config_path) if config_path else None,
        ),
    )
    written = [p for p in (options.junit, arguments.work_dir) if p is not None]
    give_to_workspace_owner(written, workspace)
    print(f"soci-ci run: {summary.verdict} ({one_line(summary.reason)})", file=sys.stderr)
    if published.comment_error is not None and code == 0:
        if ctx.provider is not Provider.LOCAL:
            print(f"warning: {one_line(published.comment_note)}", file=sys.stderr)
        return int(published.comment_error.exit_code)
    return code

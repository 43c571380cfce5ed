"""`soci-ci run`: the whole pipeline (build, push, index, verify, probe, gate, report).

Settings are config keys, resolved in one place, `soci_ci.config.resolve.resolve`: flags >
environment (``SOCI_CI_*``) > config file > defaults. With ``--from-env`` the action's
inputs (``INPUT_*``) count as flags: on GitHub the runner sets both ``INPUT_TAGS`` and,
through action.yml's ``runs.env``, ``SOCI_CI_TAGS`` to the same value, and the input wins
over anything else in the environment; a flag typed on the command line wins over an input.
Flags and inputs map to config keys through the variable action.yml gives them
(`INPUTS`, then `soci_ci.config.resolve.ENV_ALIASES`): ``--tag``/``tags``/``SOCI_CI_TAGS``
set ``image.tags``. `RunOptions` hold the resolved, typed config (``soci_ci.config.model``),
the run arguments and what the environment module parsed (registry login, timeouts).

Not config keys, so plain run arguments (flag > action input > variable > default):
``--config`` (``config``, ``SOCI_CI_CONFIG``; default ``.soci-ci.yml`` when it exists),
``--image`` (``image``, ``SOCI_CI_IMAGE``: an image already pushed, skips the build),
``--work-dir`` (``work-dir``, ``SOCI_CI_WORK_DIR``: keep each step's JSON result there; by
default none is written, so nothing of soci-ci lands in the workspace or a build context),
``--explain`` (``explain``, ``SOCI_CI_EXPLAIN``: print every setting with its source and
stop). The build's BuildKit options: ``cache-from``/``cache-to`` (``SOCI_CI_CACHE_FROM``/
``_TO``, buildx specs, one a line) and ``secrets`` (``SOCI_CI_BUILD_SECRETS``, ``id=value``
lines: each value goes to buildx in a variable of this process, never on a command line, and
is masked). The registry login inputs ``registry``/``username``/``password`` are read from
their variables (``SOCI_CI_REGISTRY_HOST``/``_USERNAME``/``_PASSWORD``) by the environment
module. The work
itself is ``soci_ci.app.pipeline`` (typed calls of the same entry points the single commands
use); reporting is ``soci_ci.ci.publish``.

Whatever fails (a config error, a bad variable or input, a step's error, a bug), the
outputs, the job summary and the PR comment are still written (verdict ``error`` with a
one-line, redacted reason), then the run exits with the failure's code (70 only for a bug).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.errors import ExitCode, SociCiError, UsageError

if TYPE_CHECKING:
    from soci_ci.app.pipeline import RunOptions
    from soci_ci.app.run_model import RunSummary
    from soci_ci.ci.context import CiContext
    from soci_ci.cli.environment import Environment
    from soci_ci.config.model import Config
    from soci_ci.config.resolve import Resolved

log = logging.getLogger(__name__)

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
    parser.add_argument("--work-dir", type=Path, metavar="DIR", help="step outputs (JSON)")
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
    work_dir: Path | None = None  # None: no step results are written
    explain: bool = False
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (id, value)


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
        cache_from=_lines(pick("cache-from")[0]),
        cache_to=_lines(pick("cache-to")[0]),
        secrets=parse_secrets(secrets_text, secrets_where),
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


def run_options(resolved: Resolved, arguments: RunArguments, env: Environment) -> RunOptions:
    """The pipeline's options, from the resolved config, the run arguments and the environment."""
    from soci_ci.app.pipeline import RunOptions  # noqa: PLC0415
    from soci_ci.cli.environment import docker_tools  # noqa: PLC0415
    from soci_ci.cli.registry_args import environment_registry_options  # noqa: PLC0415
    from soci_ci.config.resolve import Origin  # noqa: PLC0415

    config = resolved.config
    # The default platform list is what the engine builds anyway: say it only when asked.
    explicit = resolved.origin.get("image.platforms") is not Origin.DEFAULT
    return RunOptions(
        config=config,
        image=arguments.image,
        build_platforms=config.image.platforms if explicit else (),
        registry=environment_registry_options(env, host=_repository_host(config)),
        context=Path(config.image.context),
        dockerfile=config.image.dockerfile,
        junit=Path(config.report.junit) if config.report.junit else None,
        startup=config.data.get("startup", {}).get("enabled"),
        startup_config=dict(config.data.get("startup") or {}),
        probe_config=dict(config.data.get("probe") or {}),
        startup_limits=tuple(config.data.get("thresholds", {}).get("startup") or ()),
        work_dir=arguments.work_dir,
        cache_from=arguments.cache_from,
        cache_to=arguments.cache_to,
        build_secrets=tuple(
            f"id={key},env={SECRET_ENV_PREFIX}{n}" for n, (key, _) in enumerate(arguments.secrets)
        ),
        docker=docker_tools(
            env,
            {f"{SECRET_ENV_PREFIX}{n}": value for n, (_, value) in enumerate(arguments.secrets)},
        ),
        inflate=env.inflate,
    )


def _repository_host(config: Config) -> str | None:
    """The registry of ``image.repository``: where the explicit login goes by default (None:
    the host of the image the run is given)."""
    from soci_ci.registry.reference import parse_reference  # noqa: PLC0415

    repository = config.image.repository
    if not repository:
        return None
    try:
        return parse_reference(repository).registry
    except SociCiError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Reporting:
    """How the report goes out: known even when the config could not be read."""

    comment: bool = True
    summary: bool = True
    junit: Path | None = None
    config_file: str | None = None


def _reporting(config: Config, config_path: Path | None) -> _Reporting:
    report = config.report
    return _Reporting(
        comment=report.comment,
        summary=report.summary,
        junit=Path(report.junit) if report.junit else None,
        config_file=str(config_path) if config_path else None,
    )


def _fallback_reporting(args: argparse.Namespace, environ: Mapping[str, str]) -> _Reporting:
    """Reporting settings without the file (it is what failed): flags and environment, else
    the defaults; a value that is itself broken falls back to its default."""
    from soci_ci.config.resolve import resolve  # noqa: PLC0415

    try:
        flags, labels = config_flags(args, environ)
        return _reporting(resolve({}, env=environ, flags=flags, labels=labels).config, None)
    except SociCiError:
        return _Reporting()


def _context(env: Environment) -> tuple[CiContext, str | None]:
    """Where the run happens, its origin checked, and the GitHub token (masked at once)."""
    from soci_ci.ci.context import confirm_origin, detect_context  # noqa: PLC0415
    from soci_ci.ci.github_output import format_mask  # noqa: PLC0415
    from soci_ci.ci.pull_request_api import github_lookup  # noqa: PLC0415
    from soci_ci.ci.secrets import resolve_token  # noqa: PLC0415

    event_text = None
    if env.event_path:
        try:
            event_text = Path(env.event_path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read GITHUB_EVENT_PATH: {exc.strerror}") from exc
    token = resolve_token(env.raw)
    if token and env.github_actions:
        for line in format_mask(token):
            print(line, flush=True)
    ctx = detect_context(env.raw, event_text, token=token)
    return confirm_origin(ctx, github_lookup(api_url=ctx.api_url, token=token)), token


def _safe_context(env: Environment) -> CiContext:
    """The context for a failure report: without the event or the token if those fail."""
    from soci_ci.ci.context import CiContext, Provider, detect_context  # noqa: PLC0415

    try:
        return _context(env)[0]
    except Exception:  # the report must still go out
        log.debug("run: context detection failed", exc_info=True)
    try:
        return detect_context(env.raw, None, token=None)
    except Exception:  # the report must still go out
        log.debug("run: context detection failed again", exc_info=True)
    return CiContext(provider=Provider.LOCAL)


def _publish(summary: RunSummary, ctx: CiContext, reporting: _Reporting, code: int) -> int:
    from soci_ci.ci.context import Provider  # noqa: PLC0415
    from soci_ci.ci.publish import PublishOptions, publish  # noqa: PLC0415
    from soci_ci.ci.workflow_commands import one_line  # noqa: PLC0415

    if not reporting.comment:
        ctx = replace(ctx, token=None)
    try:
        published = publish(
            summary,
            ctx,
            PublishOptions(
                comment=reporting.comment,
                summary=reporting.summary,
                junit=reporting.junit,
                config_file=reporting.config_file,
            ),
        )
    except SociCiError as exc:
        print(f"error: the report could not be written: {one_line(str(exc))}", file=sys.stderr)
        return code or int(exc.exit_code)
    except OSError as exc:
        print(f"error: the report could not be written: {exc.strerror}", file=sys.stderr)
        return code or int(ExitCode.USAGE)
    except Exception as exc:  # a bug while reporting: say so, keep the run's own code if any
        log.debug("run: publishing raised", exc_info=True)
        print(f"error: internal error while reporting: {type(exc).__name__}", file=sys.stderr)
        return code or int(ExitCode.INTERNAL)
    print(f"soci-ci run: {summary.verdict} ({one_line(summary.reason)})", file=sys.stderr)
    if published.comment_error is not None and code == 0:
        if ctx.provider is not Provider.LOCAL:
            print(f"warning: {one_line(published.comment_note)}", file=sys.stderr)
        return int(published.comment_error.exit_code)
    return code


def _failed(
    exc: SociCiError, args: argparse.Namespace, env: Environment, ctx: CiContext | None
) -> int:
    """Report a run that could not start (bad config, variable, input or path) and exit."""
    from soci_ci.app.pipeline import setup_failure  # noqa: PLC0415

    report_failure(exc)
    reporting = _fallback_reporting(args, env.raw)
    ctx = ctx if ctx is not None else _safe_context(env)
    return _publish(setup_failure(exc, ctx), ctx, reporting, int(exc.exit_code))


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.pipeline import AppSteps, Pipeline, setup_failure  # noqa: PLC0415
    from soci_ci.app.run_trust import confine_paths, trusted_file_layer  # noqa: PLC0415
    from soci_ci.ci.ownership import give_to_workspace_owner  # noqa: PLC0415
    from soci_ci.ci.workflow_commands import neutralize, one_line  # noqa: PLC0415
    from soci_ci.workspace import workspace_root  # noqa: PLC0415

    env: Environment = args.environment
    environ = env.raw
    ctx: CiContext | None = None
    try:
        if args.environment_error is not None:
            raise args.environment_error
        arguments = run_arguments(args, environ)
        config_path = arguments.config_path
        workspace = workspace_root(environ)
        ctx, token = _context(env)
        file_data, trust = trusted_file_layer(
            config_path, workspace=workspace, ctx=ctx, token=token, search_path=env.search_path
        )
        resolved = resolve_settings(args, environ, config_path, file_data=file_data)
    except SociCiError as exc:
        return _failed(exc, args, env, ctx)
    notes = trust.report_lines()
    for line in notes:
        print(f"soci-ci run: {one_line(line)}", file=sys.stderr)
    if arguments.explain:
        print(f"soci-ci run: config file {config_path or '(none)'}", file=sys.stderr)
        for line in resolved.explain():
            print(neutralize(line))
        return 0
    try:
        options = confine_paths(
            run_options(resolved, arguments, env), workspace=workspace, environ=environ
        )
    except SociCiError as exc:
        return _failed(exc, args, env, ctx)
    reporting = _Reporting(
        comment=resolved.config.report.comment,
        summary=resolved.config.report.summary,
        junit=options.junit,
        config_file=str(config_path) if config_path else None,
    )
    _mask_secrets(arguments, env)
    try:
        summary = Pipeline(options, ctx, AppSteps()).run()
    except Exception as exc:  # a bug in the pipeline itself: still reported, exit 70
        log.debug("run: pipeline raised", exc_info=True)
        summary = setup_failure(exc, ctx)
    summary = replace(summary, notes=tuple(notes))
    code = _publish(summary, ctx, reporting, int(summary.exit_code))
    written = [p for p in (options.junit, options.work_dir) if p is not None]
    give_to_workspace_owner(written, workspace)
    return code


def _mask_secrets(arguments: RunArguments, env: Environment) -> None:
    """On GitHub, mask the build secrets (buildx gets them in its own environment,
    `RunOptions.docker`) and the registry password."""
    from soci_ci.ci.github_output import format_mask  # noqa: PLC0415

    for _, secret in arguments.secrets:
        if env.github_actions and secret:
            for line in format_mask(secret):
                print(line, flush=True)
    if env.github_actions and env.registry_password:
        for line in format_mask(env.registry_password):
            print(line, flush=True)


def report_failure(exc: SociCiError) -> None:
    """The error on stderr (and a config file's problems as annotations), as the single
    commands print it; the report's own annotation gives the verdict."""
    from soci_ci.cli import report_error  # noqa: PLC0415

    report_error(exc, debug=False, annotate=False)

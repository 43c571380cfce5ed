"""`soci-ci run`: the whole pipeline (build, push, index, verify, probe, gate, report).

Settings come from, in order of precedence: flags (and, with ``--from-env``, the action's
inputs), ``SOCI_CI_*`` environment variables, the config file, defaults. The work itself is
``soci_ci.app.pipeline``; reporting is ``soci_ci.ci.publish``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.errors import SociCiError, UsageError

if TYPE_CHECKING:
    from soci_ci.app.pipeline import RunOptions, StepOutcome

DEFAULT_CONFIG = ".soci-ci.yml"

# action input -> (environment variable, kind); action.yml maps each input to this variable.
INPUTS: dict[str, tuple[str, str]] = {
    "config": ("SOCI_CI_CONFIG", "path"),
    "image": ("SOCI_CI_IMAGE", "str"),
    "repository": ("SOCI_CI_REPOSITORY", "str"),
    "context": ("SOCI_CI_CONTEXT", "path"),
    "dockerfile": ("SOCI_CI_DOCKERFILE", "str"),
    "tags": ("SOCI_CI_TAGS", "list"),
    "soci": ("SOCI_CI_SOCI", "bool"),
    "verify": ("SOCI_CI_VERIFY", "bool"),
    "probe": ("SOCI_CI_PROBE", "bool"),
    "comment": ("SOCI_CI_COMMENT", "bool"),
    "summary": ("SOCI_CI_SUMMARY", "bool"),
    "junit-file": ("SOCI_CI_JUNIT_FILE", "path"),
    "work-dir": ("SOCI_CI_WORK_DIR", "path"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="build, push, index, verify, probe, gate and report in one go",
        description="The whole pipeline. Exit codes: 0 pass or neutral, 1 a threshold or "
        "verify check failed, 2 and above: errors (see README).",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help=f"default {DEFAULT_CONFIG}")
    parser.add_argument("--from-env", action="store_true", help="GitHub action / CodeBuild mode")
    parser.add_argument("--image", metavar="REF", help="use this pushed image; skip the build")
    parser.add_argument("--repository", metavar="REGISTRY/REPO", help="image.repository")
    parser.add_argument("--context", type=Path, help="image.context")
    parser.add_argument("--dockerfile", help="image.dockerfile")
    parser.add_argument("--tag", action="append", dest="tags", metavar="TEMPLATE")
    for name in ("soci", "verify", "probe", "comment", "summary"):
        parser.add_argument(
            f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=f"{name} step"
        )
    parser.add_argument("--junit-file", type=Path, metavar="FILE", help="report.junit")
    parser.add_argument("--work-dir", type=Path, metavar="DIR", help="step outputs (JSON)")
    parser.set_defaults(func=run)


def _parse_env_value(name: str, kind: str, raw: str) -> Any:
    from soci_ci.ci.github_env import parse_bool  # noqa: PLC0415

    if kind == "bool":
        return parse_bool(raw, name=name)
    if kind == "path":
        return Path(raw)
    if kind == "list":
        return [t.strip() for t in raw.replace(",", "\n").splitlines() if t.strip()]
    return raw


def env_layer(environ: Mapping[str, str], *, from_inputs: bool) -> dict[str, Any]:
    """Settings from ``SOCI_CI_*`` (and ``INPUT_*`` in action mode), keyed like the flags."""
    from soci_ci.ci.github_env import read_input  # noqa: PLC0415

    out: dict[str, Any] = {}
    for name, (variable, kind) in INPUTS.items():
        raw = environ.get(variable, "").strip() or None
        if raw is None and from_inputs:
            raw = read_input(environ, name)
        if raw is not None:
            out[name.replace("-", "_")] = _parse_env_value(name, kind, raw)
    return out


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def load_config_mapping(path: Path) -> tuple[Mapping[str, Any], bool]:
    """The validated config with defaults applied, and whether it has a thresholds section."""
    from soci_ci.config import load_config  # noqa: PLC0415 - jsonschema only when needed

    config = load_config(path)
    return config.data, config.has_thresholds


def resolve_options(
    file: Mapping[str, Any],
    layer: Mapping[str, Any],
    *,
    config_path: Path | None,
    has_thresholds: bool = False,
) -> RunOptions:
    """Defaults < file < environment/flags (``layer``), in one place."""
    from soci_ci.app.pipeline import RunOptions  # noqa: PLC0415

    image = _section(file, "image")
    soci = _section(file, "soci")
    verify = _section(soci, "verify")
    probe = _section(file, "probe")
    report = _section(file, "report")

    def pick(key: str, default: Any) -> Any:
        value = layer.get(key)
        return default if value is None else value

    junit = pick("junit_file", report.get("junit"))
    return RunOptions(
        config_path=config_path,
        repository=pick("repository", image.get("repository")),
        image=pick("image", None),
        context=Path(pick("context", image.get("context") or ".")),
        dockerfile=str(pick("dockerfile", image.get("dockerfile") or "Dockerfile")),
        build_args={str(k): str(v) for k, v in (image.get("build_args") or {}).items()},
        tags=tuple(pick("tags", image.get("tags") or ["{sha}"])),
        soci=bool(pick("soci", soci.get("enabled", True))),
        soci_format=str(soci.get("format") or "v2"),
        soci_tag=soci.get("tag"),
        span_size=soci.get("span_size"),
        min_layer_size=soci.get("min_layer_size"),
        verify=bool(pick("verify", verify.get("enabled", True))),
        verify_sample=verify.get("sample"),
        probe=bool(pick("probe", probe.get("enabled", False))),
        gate=has_thresholds,
        ecs_endpoint=layer.get("ecs_endpoint"),
        baseline_store=_section(file, "baseline").get("store"),
        comment=bool(pick("comment", report.get("comment", True))),
        summary=bool(pick("summary", report.get("summary", True))),
        junit=Path(junit) if junit else None,
        work_dir=Path(pick("work_dir", ".soci-ci")),
    )


def _run_step(argv: list[str]) -> StepOutcome:
    """One documented command, in-process; errors become an outcome with their message."""
    from soci_ci.app.pipeline import StepOutcome  # noqa: PLC0415
    from soci_ci.cli import build_parser, report_error  # noqa: PLC0415

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return StepOutcome(code=int(exc.code or 2), message="bad arguments: " + " ".join(argv))
    try:
        return StepOutcome(code=int(args.func(args)))
    except SociCiError as exc:
        report_error(exc, debug=False)
        return StepOutcome(code=int(exc.exit_code), message=" ".join(str(exc).split()))


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.pipeline import Pipeline  # noqa: PLC0415
    from soci_ci.ci.context import Provider, detect_context  # noqa: PLC0415
    from soci_ci.ci.github_output import format_mask  # noqa: PLC0415
    from soci_ci.ci.publish import PublishOptions, publish  # noqa: PLC0415
    from soci_ci.ci.secrets import resolve_token  # noqa: PLC0415

    environ = os.environ
    layer = env_layer(environ, from_inputs=args.from_env)
    for key in ("image", "repository", "context", "dockerfile", "tags", "junit_file", "work_dir"):
        if getattr(args, key) is not None:
            layer[key] = getattr(args, key)
    for key in ("soci", "verify", "probe", "comment", "summary"):
        if getattr(args, key) is not None:
            layer[key] = getattr(args, key)
    if environ.get("SOCI_CI_ECS_ENDPOINT"):
        layer["ecs_endpoint"] = environ["SOCI_CI_ECS_ENDPOINT"]
    config_path = args.config or layer.pop("config", None)
    if config_path is None and Path(DEFAULT_CONFIG).is_file():
        config_path = Path(DEFAULT_CONFIG)
    file, has_thresholds = (
        load_config_mapping(config_path) if config_path is not None else ({}, False)
    )
    options = resolve_options(file, layer, config_path=config_path, has_thresholds=has_thresholds)

    event_text = None
    if environ.get("GITHUB_EVENT_PATH"):
        try:
            event_text = Path(environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read GITHUB_EVENT_PATH: {exc.strerror}") from exc
    in_actions = environ.get("GITHUB_ACTIONS") == "true"
    token = resolve_token(environ) if options.comment else None
    if token and in_actions:
        for line in format_mask(token):
            print(line, flush=True)
    ctx = detect_context(environ, event_text, token=token)
    summary, code = Pipeline(options, ctx, _run_step).run()
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
    print(f"soci-ci run: {summary.verdict} ({summary.reason})", file=sys.stderr)
    if published.comment_error is not None and code == 0:
        if ctx.provider is not Provider.LOCAL:
            print(f"warning: {published.comment_note}", file=sys.stderr)
        return int(published.comment_error.exit_code)
    return code

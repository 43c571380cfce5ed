"""`soci-ci startup IMAGE`: what the image reads before it is ready, and what SOCI fetches."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.errors import UsageError

if TYPE_CHECKING:
    from soci_ci.startup.measure import Measured, StartupOptions

DEFAULT_TIMEOUT = 120.0
DEFAULT_READY_AFTER = 10.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "startup",
        help="record the files a container reads until ready; what a lazy start fetches",
        description=(
            "Runs IMAGE (a registry reference) on the local Docker engine (DOCKER_HOST) as the "
            "task would, until it is ready, records every file of its rootfs it opens, execs "
            "or reads, and maps them to layers and zTOC spans: the bytes and requests a lazy "
            "(SOCI) start fetches. Ready: the first log line matching --ready-log-regex, the "
            "image's health check, or --ready-after (default: the config's "
            "probe.ready.log_regex, else the health check or 10 s)."
        ),
    )
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument(
        "--soci-image",
        metavar="REF",
        help="where the SOCI index is (e.g. TAG-soci); "
        "default: IMAGE's own, else zTOCs built as `soci-ci index` would",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="the .soci-ci.yml file")
    parser.add_argument("--ready-log-regex", metavar="RE2", help="ready at the first match")
    parser.add_argument("--ready-after", type=float, metavar="SECONDS", help="ready after this")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help=f"give up (default {DEFAULT_TIMEOUT:g})"
    )
    parser.add_argument("--entrypoint", metavar="JSON", help="e.g. '[\"/app/run\"]'")
    parser.add_argument("--cmd", metavar="JSON", help="the command, e.g. '[\"serve\"]'")
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    parser.add_argument("--user", metavar="USER")
    parser.add_argument("--network", default=None, help="container network (default none)")
    parser.add_argument(
        "--recorder",
        choices=("auto", "local", "helper"),
        default=None,
        help="local: fanotify in this process (root on the engine's host); helper: a "
        "privileged helper container through the socket; auto (default) picks",
    )
    parser.add_argument(
        "--helper-image",
        metavar="IMAGE",
        help="image of the helper (default: the image of the container soci-ci runs in)",
    )
    parser.add_argument("--span-size", type=int, metavar="BYTES")
    parser.add_argument("--min-layer-size", type=int, metavar="BYTES")
    parser.add_argument("--no-pull", action="store_true", help="never let the engine pull")
    parser.add_argument("--top", type=int, default=10, help="largest files listed (default 10)")
    parser.add_argument("--output-json", type=Path, metavar="FILE")
    parser.add_argument(
        "--write-prefetch",
        type=Path,
        metavar="DIR",
        help="write SOCI prefetch artifacts (one per layer) and the file list to DIR",
    )
    add_registry_arguments(parser)
    parser.set_defaults(func=run)


def _json_argv(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return (text,)
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{flag}: expected a JSON array of strings")
    return tuple(value)


def _section(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(probe, startup) sections of the config file."""
    if path is None:
        return {}, {}
    from soci_ci.config.loader import load_config  # noqa: PLC0415

    config = load_config(path)
    startup = config.data.get("startup")
    return dict(config.probe), dict(startup) if isinstance(startup, dict) else {}


def build_options(args: argparse.Namespace) -> StartupOptions:
    from soci_ci.app.index_model import IndexOptions  # noqa: PLC0415 - fast start
    from soci_ci.startup.engine import RunSpec  # noqa: PLC0415
    from soci_ci.startup.estimate import EstimateParameters  # noqa: PLC0415
    from soci_ci.startup.measure import StartupOptions  # noqa: PLC0415
    from soci_ci.startup.session import ReadyRule, RecorderMode  # noqa: PLC0415
    from soci_ci.user_regex import compile_user_regex  # noqa: PLC0415

    probe, startup = _section(args.config)
    env = {str(k): str(v) for k, v in (probe.get("environment") or {}).items()}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        env[key] = value
    command = _json_argv(args.cmd, "--cmd")
    if command is None and probe.get("command") is not None:
        command = tuple(str(c) for c in probe["command"])
    ready_cfg = probe.get("ready") or {}
    pattern = args.ready_log_regex or startup.get("ready_log_regex") or ready_cfg.get("log_regex")
    after = args.ready_after if args.ready_after is not None else startup.get("ready_after_seconds")
    timeout = args.timeout or startup.get("timeout_seconds") or DEFAULT_TIMEOUT
    if timeout <= 0 or (after is not None and after < 0):
        raise UsageError("--timeout must be positive and --ready-after not negative")
    if pattern is None and after is None:
        after = DEFAULT_READY_AFTER
    key = "--ready-log-regex" if args.ready_log_regex else "probe.ready.log_regex"
    rule = ReadyRule(
        log_regex=compile_user_regex(pattern, key=key) if pattern else None,
        health=True,
        after_seconds=None if after is None else float(after),
        timeout_seconds=float(timeout),
    )
    index = IndexOptions()
    span = args.span_size or startup.get("span_size")
    minimum = args.min_layer_size if args.min_layer_size is not None else None
    if span is not None and span <= 0:
        raise UsageError("--span-size must be positive")
    index = IndexOptions(
        span_size=int(span or index.span_size),
        min_layer_size=int(minimum if minimum is not None else index.min_layer_size),
    )
    params = EstimateParameters(**(startup.get("estimate") or {}))
    return StartupOptions(
        image=args.image,
        soci_image=args.soci_image,
        run=RunSpec(
            entrypoint=_json_argv(args.entrypoint, "--entrypoint"),
            command=command,
            environment=env,
            user=args.user,
            network=args.network or startup.get("network") or "none",
        ),
        ready=rule,
        recorder=RecorderMode(args.recorder or startup.get("recorder") or "auto"),
        helper_image=args.helper_image or startup.get("helper_image"),
        index=index,
        estimate=params,
        registry=registry_options(args),
        pull=not args.no_pull,
    )


def run(args: argparse.Namespace) -> int:
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415
    from soci_ci.startup.measure import measure  # noqa: PLC0415

    options = build_options(args)
    with signal_guard():
        measured = measure(options)
    from soci_ci.startup.table import render_table  # noqa: PLC0415

    sys.stdout.write(render_table(measured.report, top=args.top))
    if args.output_json:
        args.output_json.write_text(json.dumps(measured.report.to_json(), indent=2) + "\n")
    if args.write_prefetch:
        write_prefetch(measured, args.write_prefetch)
    return 0


def write_prefetch(measured: Measured, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    descriptors = []
    for artifact in measured.prefetch:
        name = artifact.layer.replace(":", "-") + ".prefetch.json"
        (directory / name).write_bytes(artifact.data)
        descriptors.append(artifact.descriptor())
    paths = [f.path for f in measured.report.result.files]
    (directory / "prefetch-files.json").write_text(json.dumps(paths, indent=2) + "\n")
    (directory / "descriptors.json").write_text(json.dumps(descriptors, indent=2) + "\n")
    sys.stdout.write(
        f"prefetch: {len(descriptors)} artifact(s) and prefetch-files.json in {directory}\n"
    )

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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "startup",
        help="record the files a container reads until ready; what a lazy start fetches",
        description=(
            "Runs IMAGE (a registry reference or a local image) on the local Docker engine "
            "(DOCKER_HOST) as the task would, until it is ready, records every file of its "
            "rootfs it opens, execs or reads, and maps them to layers and zTOC spans: the "
            "bytes and requests a lazy (SOCI) start fetches. Ready: the first log line "
            "matching --ready-log-regex, the image's health check, or --ready-after (default: "
            "the config's probe.ready.log_regex, else the health check or 10 s)."
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
        "--timeout", type=float, metavar="SECONDS", help="give up after (default 120)"
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
    parser.add_argument(
        "--image-source",
        choices=("auto", "engine", "registry"),
        default=None,
        help="where IMAGE's layers are read: engine (a local image: `docker save`, sizes "
        "computed locally), registry, or auto (default: the engine's image when it has one "
        "that no registry holds; docs/startup.md)",
    )
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


def _section(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(probe, startup) sections of the config file."""
    if path is None:
        return {}, {}
    from soci_ci.config.loader import load_config  # noqa: PLC0415

    config = load_config(path)
    startup = config.data.get("startup")
    probe = config.data.get("probe")
    return (
        dict(probe) if isinstance(probe, dict) else {},
        dict(startup) if isinstance(startup, dict) else {},
    )


def build_options(args: argparse.Namespace) -> StartupOptions:
    from soci_ci.app.index_model import IndexOptions  # noqa: PLC0415
    from soci_ci.startup.settings import Overrides, json_argv, startup_options  # noqa: PLC0415

    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        env[key] = value
    probe, startup = _section(args.config)
    return startup_options(
        args.image,
        soci_image=args.soci_image,
        probe=probe,
        startup=startup,
        overrides=Overrides(
            ready_log_regex=args.ready_log_regex,
            ready_after=args.ready_after,
            timeout=args.timeout,
            entrypoint=json_argv(args.entrypoint, "--entrypoint"),
            command=json_argv(args.cmd, "--cmd"),
            environment=env,
            user=args.user,
            network=args.network,
            recorder=args.recorder,
            helper_image=args.helper_image,
            span_size=args.span_size,
            min_layer_size=args.min_layer_size,
            image_source=args.image_source,
        ),
        registry=registry_options(args),
        index=IndexOptions(inflate=args.environment.inflate),
        pull=not args.no_pull,
    )


def run(args: argparse.Namespace) -> int:
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415
    from soci_ci.startup.measure import measure  # noqa: PLC0415

    options = build_options(args)
    with signal_guard():
        measured = measure(options)
    from soci_ci.ci.workflow_commands import neutralize  # noqa: PLC0415
    from soci_ci.startup.table import render_table  # noqa: PLC0415

    # File paths come from the image: no line of them may start a workflow command.
    sys.stdout.write(neutralize(render_table(measured.report, top=args.top)))
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

"""`soci-ci build`: build and push the image with the Docker engine; optionally index it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build and push an image with the Docker engine, then (--index) SOCI-index it",
        description=(
            "Builds CONTEXT with the Docker engine (DOCKER_HOST; BuildKit through `docker buildx` "
            "or a docker CLI < 23 when installed, else the engine's classic builder), pushes "
            "every --tag and prints the manifest digest. "
            "With --index, `soci-ci index` runs on exactly that digest."
        ),
    )
    parser.add_argument("--context", type=Path, default=Path(), help="build context (default .)")
    parser.add_argument(
        "--file", "-f", default="Dockerfile", help="Dockerfile, relative to the context"
    )
    parser.add_argument("--tag", "-t", action="append", default=[], metavar="REPO:TAG")
    parser.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--target")
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH",
        help="target platform; repeat (or comma-separate) for several, which needs buildx",
    )
    parser.add_argument("--network", help="network mode for RUN steps (e.g. none)")
    parser.add_argument("--pull", action="store_true", help="pull newer base images")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID,env=VAR",
        help="build secret for RUN --mount=type=secret (buildx; id=ID,env=VAR or id=ID,src=FILE)",
    )
    parser.add_argument(
        "--cache-from", action="append", default=[], metavar="SPEC", help="buildx cache import"
    )
    parser.add_argument(
        "--cache-to", action="append", default=[], metavar="SPEC", help="buildx cache export"
    )
    parser.add_argument("--no-push", dest="push", action="store_false", help="build only")
    parser.add_argument(
        "--builder",
        choices=["auto", "buildx", "buildkit", "sdk"],  # soci_ci.config.model.Builder
        default="auto",
        help="auto (default): buildx, else the docker CLI's BuildKit (CLI < 23), else the SDK",
    )
    parser.add_argument("--index", action="store_true", help="SOCI-index the pushed digest")
    parser.add_argument("--output-json", type=Path, metavar="FILE")
    add_registry_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.build import build_image  # noqa: PLC0415 - keep `soci-ci --help` fast
    from soci_ci.app.options import BuildOptions, index_image_options  # noqa: PLC0415
    from soci_ci.build.spec import (  # noqa: PLC0415
        BuildSpec,
        check_reference,
        check_secret,
        parse_pairs,
    )
    from soci_ci.cli.environment import docker_tools  # noqa: PLC0415
    from soci_ci.config.model import Builder  # noqa: PLC0415

    if args.index and not args.push:
        raise UsageError("--index needs the image in a registry: drop --no-push")
    spec = BuildSpec(
        context=args.context,
        dockerfile=args.file,
        tags=tuple(check_reference(tag) for tag in args.tag),
        build_args=parse_pairs(args.build_arg, "--build-arg"),
        labels=parse_pairs(args.label, "--label"),
        target=args.target,
        platform=",".join(p for arg in args.platform for p in arg.split(",") if p) or None,
        network=args.network,
        pull=args.pull,
        push=args.push,
        secrets=tuple(check_secret(s) for s in args.secret),
        cache_from=tuple(args.cache_from),
        cache_to=tuple(args.cache_to),
    )
    registry = registry_options(args)  # once: --password-stdin reads stdin
    build = BuildOptions(
        spec=spec,
        docker=docker_tools(args.environment),
        builder=Builder(args.builder),
        registry=registry,
    )
    built = build_image(build)
    sys.stdout.write(f"{built.reference or built.result.image_id}\n")
    if args.index and built.reference:
        from soci_ci.app.steps import index_image  # noqa: PLC0415
        from soci_ci.cli.index import print_report  # noqa: PLC0415
        from soci_ci.cli.settings import config_from_flags  # noqa: PLC0415

        soci = config_from_flags({}).soci
        options = index_image_options(
            built.reference, soci, registry, inflate=args.environment.inflate
        )
        print_report(index_image(options))
    if args.output_json:
        args.output_json.write_text(json.dumps(built.to_json(), indent=2) + "\n")
    return 0

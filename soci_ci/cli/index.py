"""`soci-ci index IMAGE`: build the SOCI index of an image and write it beside the image.

Every flag is a ``soci.*`` config key (the same settings `soci-ci run` reads from the file):
defaults and checks come from the schema; the work is `soci_ci.app.steps.index_image`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soci_ci.app.index_model import IndexReport
from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.cli.settings import config_from_flags
from soci_ci.config.model import SociConfig
from soci_ci.soci.constants import DEFAULT_BUILD_TOOL, DEFAULT_MIN_LAYER_SIZE, DEFAULT_SPAN_SIZE
from soci_ci.soci.index_manifest import IndexFormat


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "index",
        help="build and write the SOCI index of an image (like `soci convert --standalone`)",
        description=(
            "IMAGE is a registry reference (docker://REF or registry/repo:tag), "
            "oci:DIR[:TAG] (an OCI image layout) or oci-archive:FILE[:TAG]. "
            "v2 (default) writes a SOCI-enabled image tagged TAG-soci; v1 writes an index "
            "manifest whose subject is the image, findable through the referrers tag."
        ),
    )
    parser.add_argument("image", metavar="IMAGE")
    add_index_arguments(parser)
    parser.add_argument("--output-json", type=Path, metavar="FILE", help="write a JSON report")
    add_registry_arguments(parser)
    parser.set_defaults(func=run)


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``soci.*`` flags (also on `soci-ci build --index`)."""
    parser.add_argument(
        "--format",
        choices=[f.value for f in IndexFormat],
        help="v2 (default): a SOCI-enabled image index; v1: an index manifest with a subject",
    )
    parser.add_argument(
        "--span-size",
        type=int,
        metavar="BYTES",
        help=f"uncompressed bytes between checkpoints (default {DEFAULT_SPAN_SIZE})",
    )
    parser.add_argument(
        "--min-layer-size",
        type=int,
        metavar="BYTES",
        help=f"skip layers smaller than this (default {DEFAULT_MIN_LAYER_SIZE})",
    )
    parser.add_argument(
        "--platform",
        action="append",
        dest="soci_platforms",
        metavar="OS/ARCH[/VARIANT]",
        help="index only these platforms (repeatable; default: all)",
    )
    parser.add_argument(
        "--build-tool-identifier",
        metavar="TEXT",
        help=f'written into every zTOC and the index (default "{DEFAULT_BUILD_TOOL}"; '
        '"AWS SOCI CLI v0.2" gives the official tool\'s bytes)',
    )
    parser.add_argument(
        "--tag", dest="soci_tag", help="tag of the SOCI-enabled image (v2; default: <tag>-soci)"
    )
    parser.add_argument(
        "--overwrite-tag",
        action="store_true",
        default=None,
        help="allow --tag to be the original image's tag (moves it to the SOCI-enabled image)",
    )
    parser.add_argument(
        "--optimizations",
        choices=["xattr"],
        action="append",
        help="xattr: mark layers without xattrs (com.amazon.soci.disable-xattrs)",
    )
    parser.add_argument("--workers", type=int, help="parallel zTOC builds (default: CPU count)")
    parser.add_argument(
        "--force",
        action="store_true",
        default=None,
        help="download and index every layer even when an equivalent SOCI index is already "
        "there (default: a rerun checks the destination first and downloads nothing)",
    )


def soci_settings(args: argparse.Namespace) -> SociConfig:
    """The ``soci`` section from the flags (schema defaults for the others)."""
    optimizations = sorted(set(args.optimizations)) if args.optimizations else None
    return config_from_flags(
        {
            "soci.format": ("--format", args.format),
            "soci.span_size": ("--span-size", args.span_size),
            "soci.min_layer_size": ("--min-layer-size", args.min_layer_size),
            "soci.platforms": ("--platform", args.soci_platforms),
            "soci.build_tool_identifier": ("--build-tool-identifier", args.build_tool_identifier),
            "soci.tag": ("--tag", args.soci_tag),
            "soci.overwrite_tag": ("--overwrite-tag", args.overwrite_tag),
            "soci.optimizations": ("--optimizations", optimizations),
            "soci.workers": ("--workers", args.workers),
            "soci.force": ("--force", args.force),
        }
    ).soci


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.options import index_image_options  # noqa: PLC0415
    from soci_ci.app.steps import index_image  # noqa: PLC0415

    options = index_image_options(
        args.image, soci_settings(args), registry_options(args), inflate=args.environment.inflate
    )
    report = index_image(options)
    print_report(report)
    if args.output_json:
        args.output_json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0


def print_report(report: IndexReport) -> None:
    out = sys.stdout
    out.write(f"{report.message}\n")
    out.write(f"image:          {report.image}\n")
    out.write(f"original:       {report.original_digest}\n")
    if report.soci_image_digest:
        out.write(f"SOCI image:     {report.soci_image_digest}  (tag {report.tag})\n")
    for platform, digest in report.soci_indexes.items():
        out.write(f"SOCI index {report.index_format} {platform}: {digest}\n")
    if report.layers:
        out.write("\n| platform | layer | size | zTOC | spans | files | note |\n")
        out.write("|---|---|---:|---|---:|---:|---|\n")
        for r in report.layers:
            out.write(
                f"| {r.platform} | {r.digest[:19]} | {_mb(r.size)} | "
                f"{(r.ztoc_digest or '-')[:19]} | {r.spans or ''} | {r.files or ''} | "
                f"{r.skipped or ''} |\n"
            )
    for note in report.notes:
        out.write(f"note: {note}\n")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} B"

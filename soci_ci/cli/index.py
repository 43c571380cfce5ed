"""`soci-ci index IMAGE`: build the SOCI index of an image and write it beside the image."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from soci_ci.app.apply import apply_plan
from soci_ci.app.index import build_plan
from soci_ci.app.index_model import IndexOptions, IndexReport, Outcome
from soci_ci.app.registry_index import check_tag_policy, source_tag
from soci_ci.app.stores import ImageRef, open_store, parse_image_ref
from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.errors import UsageError
from soci_ci.oci.platform import Platform
from soci_ci.soci.constants import DEFAULT_BUILD_TOOL, DEFAULT_MIN_LAYER_SIZE, DEFAULT_SPAN_SIZE
from soci_ci.soci.index_manifest import IndexFormat

log = logging.getLogger(__name__)


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
    parser.add_argument(
        "--format",
        choices=[f.value for f in IndexFormat],
        default="v2",
        help="v2 (default): a SOCI-enabled image index; v1: an index manifest with a subject",
    )
    parser.add_argument(
        "--span-size",
        type=int,
        default=DEFAULT_SPAN_SIZE,
        metavar="BYTES",
        help=f"uncompressed bytes between checkpoints (default {DEFAULT_SPAN_SIZE})",
    )
    parser.add_argument(
        "--min-layer-size",
        type=int,
        default=DEFAULT_MIN_LAYER_SIZE,
        metavar="BYTES",
        help=f"skip layers smaller than this (default {DEFAULT_MIN_LAYER_SIZE})",
    )
    parser.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="index only these platforms (repeatable; default: all)",
    )
    parser.add_argument(
        "--build-tool-identifier",
        default=DEFAULT_BUILD_TOOL,
        metavar="TEXT",
        help=f'written into every zTOC and the index (default "{DEFAULT_BUILD_TOOL}"; '
        '"AWS SOCI CLI v0.2" gives the official tool\'s bytes)',
    )
    parser.add_argument(
        "--tag", help="tag of the SOCI-enabled image (v2; default: <source tag>-soci)"
    )
    parser.add_argument(
        "--overwrite-tag",
        action="store_true",
        help="allow --tag to be the original image's tag (moves it to the SOCI-enabled image)",
    )
    parser.add_argument(
        "--optimizations",
        choices=["xattr"],
        action="append",
        default=[],
        help="xattr: mark layers without xattrs (com.amazon.soci.disable-xattrs)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel zTOC builds (default: CPU count)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="download and index every layer even when an equivalent SOCI index is already "
        "there (default: a rerun checks the destination first and downloads nothing)",
    )
    parser.add_argument("--output-json", type=Path, metavar="FILE", help="write a JSON report")
    add_registry_arguments(parser)
    parser.set_defaults(func=run)


def defaults(*, image: str, registry_args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of `soci-ci index IMAGE` with every default (used by `build --index`)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(["index", image])
    for name in ("plain_http", "ca_file", "insecure", "registry", "username", "password_stdin"):
        setattr(args, name, getattr(registry_args, name))
    return args


def run(args: argparse.Namespace) -> int:
    if args.span_size <= 0:
        raise UsageError("--span-size must be positive")
    if args.min_layer_size < 0:
        raise UsageError("--min-layer-size must not be negative")
    ref = parse_image_ref(args.image)
    index_format = IndexFormat(args.format)
    tag = args.tag
    if tag is None and index_format is IndexFormat.V2:
        tag = default_soci_tag(ref)
    check_tag_policy(tag, source_tag(ref.transport, ref.raw, ref.tag), overwrite=args.overwrite_tag)
    options = IndexOptions(
        index_format=index_format,
        span_size=args.span_size,
        min_layer_size=args.min_layer_size,
        platforms=tuple(Platform.parse(p) for p in args.platform),
        build_tool_identifier=args.build_tool_identifier,
        tag=tag,
        optimize_xattrs="xattr" in args.optimizations,
        reuse=not args.force,
        record_for_verify=getattr(args, "run_records", None) is not None,
        **({"workers": args.workers} if args.workers else {}),
    )
    with open_store(ref, registry_options(args)) as store:
        report = build_plan(store, options, destination=store)
        if report.outcome is not Outcome.NOT_APPLICABLE:
            report = apply_plan(store, report)
    if getattr(args, "run_records", None) is not None:
        args.run_records.update(report.records)  # for the verify step of `soci-ci run`
    print_report(report)
    if args.output_json:
        args.output_json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return 0


def default_soci_tag(ref: ImageRef) -> str:
    """`<tag>-soci`: a new tag, so the original stays tagged (scanners, immutable tags)."""
    if ref.transport != "docker":
        return f"{ref.tag}-soci" if ref.tag else "soci"
    from soci_ci.registry.reference import parse_reference  # noqa: PLC0415 - keep startup fast

    reference = parse_reference(ref.raw)
    if reference.tag:
        return f"{reference.tag}-soci"
    if reference.digest:
        return f"{reference.digest.split(':')[1][:12]}-soci"
    return "latest-soci"


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

"""`soci-ci verify IMAGE`: check a SOCI index as the snapshotter uses it; prove lazy reads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from soci_ci.cli.registry_args import add_registry_arguments, registry_options
from soci_ci.errors import ExitCode

if TYPE_CHECKING:
    from soci_ci.app.verify import VerifyReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a SOCI index and read every file lazily through its spans",
        description=(
            "IMAGE is the SOCI-enabled image (v2, e.g. oci:DIR:TAG-soci) or the image with a "
            "v1 index. Exit 0 when everything checks out, 1 on any problem."
        ),
    )
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--sample", type=int, metavar="N", help="check N random files per layer")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument(
        "--file",
        action="append",
        metavar="PATH",
        help="read exactly these files lazily (repeatable; e.g. the files an application "
        "reads at start), instead of all or --sample N",
    )
    parser.add_argument("--top", type=int, default=10, help="files listed per layer (default 10)")
    parser.add_argument("--output-json", type=Path, metavar="FILE")
    add_registry_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.options import VerifyImageOptions  # noqa: PLC0415 - fast start
    from soci_ci.app.steps import verify_image  # noqa: PLC0415

    options = VerifyImageOptions(
        image=args.image,
        sample=args.sample,
        seed=args.seed,
        paths=tuple(args.file) if args.file else None,
        registry=registry_options(args),
        inflate=args.environment.inflate,
    )
    report = verify_image(options)
    print_report(report, top=args.top)
    if args.output_json:
        args.output_json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return int(ExitCode.OK if report.ok else ExitCode.CHECK_FAILED)


def print_report(report: VerifyReport, *, top: int) -> None:
    out = sys.stdout
    for idx in report.indexes:
        state = "OK" if idx.ok else "FAILED"
        out.write(f"SOCI index {idx.index_format} {idx.index_digest} {idx.platform}: {state}\n")
        for problem in idx.problems:
            out.write(f"  problem: {problem}\n")
        for layer in idx.layers:
            median, p90 = layer.lazy_median, layer.lazy_p90
            size = max(layer.layer_size, 1)
            out.write(
                f"  layer {layer.layer} ({layer.layer_size} bytes, {layer.spans} spans): "
                f"{len(layer.files)}/{layer.files_total} files read lazily, "
                f"{'all match' if layer.ok else 'MISMATCH'}; a lazy read of one file fetches "
                f"{median:.0f} bytes median ({100 * median / size:.1f}% of the layer), "
                f"{p90:.0f} p90 ({100 * p90 / size:.1f}%)\n"
            )
            for problem in layer.problems:
                out.write(f"    problem: {problem}\n")
            if layer.files and top:
                out.write("\n    | file | size | fetched | requests | % of layer | ok |\n")
                out.write("    |---|---:|---:|---:|---:|---|\n")
                biggest = sorted(layer.files, key=lambda f: -f.fetched)[:top]
                for f in biggest:
                    out.write(
                        f"    | {f.name[:60]} | {f.size} | {f.fetched} | {f.requests} | "
                        f"{100 * f.fetched / max(layer.layer_size, 1):.1f} | "
                        f"{'yes' if f.ok else 'NO'} |\n"
                    )
                out.write("\n")
    out.write("verify: " + ("all checks passed\n" if report.ok else "FAILED\n"))

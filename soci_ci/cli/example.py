"""`soci-ci example oci:DIR[:TAG]`: write a small example image to try the other commands on."""

from __future__ import annotations

import argparse
import sys

from soci_ci.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "example",
        help="write a small deterministic example image (no Docker, no network)",
        description="Write a 2-layer example image as an OCI layout at oci:DIR[:TAG].",
    )
    parser.add_argument("image", metavar="oci:DIR[:TAG]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from soci_ci.app.example import write_example  # noqa: PLC0415 - keep start-up fast
    from soci_ci.oci.image_ref import parse_image_ref  # noqa: PLC0415

    ref = parse_image_ref(args.image)
    if ref.transport != "oci" or ref.path is None:
        raise UsageError("the example image is written to an OCI layout: oci:DIR[:TAG]")
    digest = write_example(ref.path, ref.tag or "latest")
    sys.stdout.write(f"wrote oci:{ref.path}:{ref.tag or 'latest'} {digest}\n")
    return 0

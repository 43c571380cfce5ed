"""`soci-ci ztoc LAYER --output FILE`: build the zTOC of one layer blob."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import BinaryIO

from soci_ci.errors import InputError, UsageError
from soci_ci.oci.atomic_file import write_atomic
from soci_ci.oci.local_file import open_regular
from soci_ci.soci.constants import DEFAULT_BUILD_TOOL, DEFAULT_SPAN_SIZE
from soci_ci.soci.ztoc import (
    Compression,
    build_ztoc,
    compression_from_media_type,
    sniff_compression,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "ztoc",
        help="build the zTOC of one layer blob (byte-identical to the soci CLI)",
        description="Write the zTOC of LAYER to FILE and print `<digest> <size>`.",
    )
    parser.add_argument("layer", metavar="LAYER", type=Path, help="layer blob (tar, tar+gzip)")
    parser.add_argument("--output", "-o", required=True, type=Path, metavar="FILE")
    parser.add_argument(
        "--span-size",
        type=int,
        default=DEFAULT_SPAN_SIZE,
        metavar="BYTES",
        help=f"uncompressed bytes per span (default {DEFAULT_SPAN_SIZE})",
    )
    parser.add_argument(
        "--media-type",
        metavar="MEDIATYPE",
        help="layer media type; default: detect gzip/zstd/tar from the bytes",
    )
    parser.add_argument(
        "--build-tool-identifier",
        default=DEFAULT_BUILD_TOOL,
        metavar="TEXT",
        help=f'stored in the zTOC (default "{DEFAULT_BUILD_TOOL}"; '
        '"AWS SOCI CLI v0.2" reproduces the official tool)',
    )
    parser.set_defaults(func=run)


def _compression(source: BinaryIO, media_type: str | None) -> Compression:
    if media_type:
        found = compression_from_media_type(media_type)
        if found is None:
            raise UsageError(f"media type {media_type!r} is not a layer type SOCI can index")
        return found
    head = source.read(4)
    source.seek(0)
    return sniff_compression(head)


def run(args: argparse.Namespace) -> int:
    layer: Path = args.layer
    output: Path = args.output
    if args.span_size <= 0:
        raise UsageError(f"--span-size must be a positive number of bytes, got {args.span_size}")
    source = open_regular(layer, f"layer {layer}")  # never a FIFO or a device
    try:
        compression = _compression(source, args.media_type)
    except OSError as exc:
        source.close()
        raise InputError(f"cannot read layer {layer}: {exc.strerror}") from None
    except BaseException:
        source.close()
        raise
    from soci_ci.app.progress import ByteProgress  # noqa: PLC0415
    from soci_ci.soci.zlib_binding import load_inflater  # noqa: PLC0415

    with source:
        progress = ByteProgress(os.fstat(source.fileno()).st_size, "the layer")
        result = build_ztoc(
            source,
            compression=compression,
            span_size=args.span_size,
            build_tool_identifier=args.build_tool_identifier,
            progress=progress.counter(),
            inflater=load_inflater(args.environment.inflate),
        )
    write_atomic(output, result.data)
    sys.stdout.write(f"{result.digest} {result.size}\n")
    return 0

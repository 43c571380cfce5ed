"""The startup tests' own readings, shared by tests/integration/test_startup*.py: the
containers soci-ci left behind, and the spans a file of a layer should have, computed
independently of the code under test (each layer tar gzipped at level 6, as the docs say a
push would; its zTOC built with the given span size; each file's spans by interval overlap of
its bytes with the checkpoints)."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import Any

from soci_ci.cli import main
from soci_ci.soci.ztoc import Compression, build_ztoc
from soci_ci.soci.ztoc_reader import parse_checkpoints, parse_ztoc
from tests.support.startup_images import docker


def leftovers(docker_host: str) -> list[str]:
    """The containers of soci-ci startup (label soci-ci.startup) still in the engine."""
    out = docker(docker_host, "ps", "-aq", "--filter", "label=soci-ci.startup")
    return out.split()


def gzip6(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


def spans_in_blob(blob: bytes, span: int, path: str) -> list[int]:
    """The spans of `path` in a gzip layer blob (its zTOC built with span size `span`)."""
    z = parse_ztoc(build_ztoc(io.BytesIO(blob), compression=Compression.GZIP, span_size=span).data)
    by_name = {e.name.decode().lstrip("./").rstrip("/"): e for e in z.entries}
    entry = by_name[path.lstrip("/")]
    if entry.type == b"hardlink":
        entry = by_name[entry.linkname.decode().lstrip("./")]
    _, checkpoints = parse_checkpoints(z.checkpoints_blob)
    bounds = [cp.out_offset for cp in checkpoints] + [z.uncompressed_archive_size]
    lo, hi = entry.uncompressed_offset, entry.uncompressed_offset + entry.uncompressed_size
    return [i for i in range(len(checkpoints)) if bounds[i] < hi and bounds[i + 1] > lo]


def expected_spans(layer_tar: bytes, span: int, path: str) -> list[int]:
    """The spans of `path` in an uncompressed layer tar, gzipped at level 6 as a push would."""
    return spans_in_blob(gzip6(layer_tar), span, path)


def run_startup(args: list[str], out: Path) -> dict[str, Any]:
    """`soci-ci startup ARGS --output-json OUT` in process (exit 0), and its JSON."""
    assert main(["startup", *args, "--output-json", str(out)]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data

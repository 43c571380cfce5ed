"""verify in bounded memory: a gzip bomb, whatever a layer decompresses to (RLIMIT_AS).

Each case runs `soci-ci verify` in a subprocess whose address space is capped: the layer's
sequential read goes through the zTOC builder's fixed buffers and lazy reads inflate into one
reused buffer, so memory does not follow the decompressed size (before: 2.4 GB on a 10 MB
bomb). The bomb is one gzip member of a tar holding 1 GiB of zeros (about 1 MB compressed),
made of full-flush segments repeated, so it is built in a second.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

from soci_ci.cli import main
from tests.support.layers import Entry, header
from tests.support.vectors import write_blob, write_layout

REPO = Path(__file__).resolve().parents[2]
SEGMENT = 16 << 20
LIMIT_AS = 1 << 30  # the old verify needed more than this for one 1 MiB chunk of the bomb


def gzip_bomb(data_size: int) -> bytes:
    """One gzip member: a tar with one file of `data_size` zero bytes (multiple of 16 MiB)."""
    head = header(Entry(name=b"zeros", data=b""), size=data_size)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = c.compress(bytes(SEGMENT)) + c.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = c.compress(bytes(1024)) + c.flush()
    crc = zlib.crc32(head)
    zeros = bytes(SEGMENT)
    for _ in range(data_size // SEGMENT):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(1024), crc)
    total = len(head) + data_size + 1024
    body = first + segment * (data_size // SEGMENT) + last
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + body + struct.pack("<II", crc, total)


def layout_with(root: Path, layer: bytes) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": write_blob(root, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": write_blob(root, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    write_layout(root, {"t": (manifest, "application/vnd.oci.image.manifest.v1+json")}, [])


def limited_verify(*args: str, limit: int = LIMIT_AS) -> tuple[int, str, float]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(REPO), "MALLOC_ARENA_MAX": "2"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "soci_ci", "verify", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        preexec_fn=cap,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_gzip_bomb_is_verified_in_bounded_memory(tmp_path: Path) -> None:
    bomb = gzip_bomb(64 * SEGMENT)  # 1 GiB of zeros
    assert len(bomb) < 2 << 20
    root = tmp_path / "img"
    layout_with(root, bomb)
    assert main(["index", f"oci:{root}:t", "--min-layer-size", "0"]) == 0
    code, out, seconds = limited_verify(f"oci:{root}:t-soci", "--sample", "1")
    assert code == 0, out[-2000:]
    assert "all checks passed" in out
    assert seconds < 120, seconds

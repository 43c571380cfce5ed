"""A small, deterministic example image written as an OCI layout, made without Docker or network.

Two layers, like a typical application image: a ~13 MB application layer (a pseudo-random
"binary" plus text assets; large enough to be indexed with the default 10 MiB minimum) and a
small configuration layer that the default settings skip.
"""

from __future__ import annotations

import io
import random
import tarfile
import zlib
from pathlib import Path

from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from soci_ci.oci.gojson import Ordered, marshal
from soci_ci.oci.layout import OciLayout
from soci_ci.oci.manifest import Descriptor, Manifest

MTIME = 1700000000
WORDS = [
    "container",
    "image",
    "layer",
    "fargate",
    "task",
    "cold",
    "start",
    "lazy",
    "loading",
    "seekable",
    "index",
    "span",
    "checkpoint",
    "registry",
    "manifest",
    "digest",
    "gzip",
    "tar",
    "snapshot",
    "pull",
    "ready",
    "latency",
]


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, data, mode in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i]) + "/"
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def _text(rng: random.Random, size: int) -> bytes:
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(10)) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def example_layers() -> list[bytes]:
    rng = random.Random(20231114)
    app = _tar(
        [
            ("app/bin/server", rng.randbytes(12 * 1024 * 1024), 0o755),
            *[(f"app/assets/page{i}.html", _text(rng, 96 * 1024), 0o644) for i in range(24)],
            ("app/README.txt", b"soci-ci example application\n", 0o644),
        ]
    )
    conf = _tar([("etc/app/app.conf", b"listen = 0.0.0.0:8080\nlog = stdout\n", 0o644)])
    return [_gzip(app), _gzip(conf)]


def write_example(root: Path, tag: str = "latest") -> str:
    """Write the example image into the layout at `root`; return its manifest digest."""
    layout = OciLayout(root, tag, create=True)
    layers = example_layers()
    config = marshal(
        Ordered(
            ("created", "2023-11-14T22:13:20Z"),
            ("architecture", "amd64"),
            ("os", "linux"),
            ("config", Ordered(("Cmd", ["/app/bin/server"]), ("WorkingDir", "/app"))),
            (
                "rootfs",
                Ordered(
                    ("type", "layers"),
                    ("diff_ids", [sha256_digest(zlib.decompress(layer, 31)) for layer in layers]),
                ),
            ),
        )
    )
    for blob in (config, *layers):
        layout.push_blob(sha256_digest(blob), blob)
    manifest = Manifest(
        media_type=mt.OCI_MANIFEST,
        config=Descriptor(media_type=mt.OCI_CONFIG, digest=sha256_digest(config), size=len(config)),
        layers=tuple(
            Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=sha256_digest(b), size=len(b))
            for b in layers
        ),
        annotations={"org.opencontainers.image.title": "soci-ci example image"},
    ).to_json()
    digest = sha256_digest(manifest)
    layout.push_manifest(manifest, mt.OCI_MANIFEST, digest)
    layout.tag(tag, manifest, mt.OCI_MANIFEST, digest)
    return digest

"""Indexing straight from a registry vs `skopeo copy` of the same image, same run, same proxy.

    python benchmarks/bench_registry.py [--layer PATH_TO_LAYER.tar.gz]

Starts a local docker-registry (127.0.0.1) behind a counting proxy, pushes an image with one
large layer (default: the 300 MB layer made by bench_ztoc.py, else a generated one) and a
few small ones, then measures bytes transferred and wall time of:
  * `skopeo copy docker://... dir:...` (the reference: one download of the image);
  * `soci-ci index docker://...` (downloads only indexable layers, builds, pushes).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_ztoc import make_layer
from soci_ci.oci import media_types as mt
from soci_ci.oci.digest import sha256_digest
from tests.servers.fault_proxy import FaultProxy
from tests.servers.registry import RegistryProcess
from tests.support.layers import Entry, build_tar, gz
from tests.support.vectors import write_blob, write_layout


def make_image(work: Path, big: list[Path]) -> Path:
    root = work / "layout"
    small = [
        gz(build_tar([Entry(name=f"etc/f{i}".encode(), data=b"x" * 2000)]).data) for i in range(3)
    ]
    layers = [p.read_bytes() for p in big] + small
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    for blob in (config, *layers):
        write_blob(root, blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": mt.OCI_LAYER_GZIP, "digest": sha256_digest(b), "size": len(b)}
                for b in layers
            ],
        }
    ).encode()
    write_layout(root, {"v1": (manifest, mt.OCI_MANIFEST)}, [])
    return root


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--layer",
        type=Path,
        action="append",
        help="large layer(s) of the image (default: bench_ztoc's 300 MB layer)",
    )
    ap.add_argument("--size-mb", type=int, default=300, help="size of a generated layer")
    ap.add_argument("--runs", type=int, default=3, help="best of N, interleaved")
    ap.add_argument(
        "--cli",
        default=f"{sys.executable} -m soci_ci",
        help="how to run soci-ci (default: this checkout; give an installed soci-ci, e.g. "
        "VENV/bin/soci-ci, to measure what users run)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soci-ci-bench-reg-"))
    layers = args.layer or [Path(f"/tmp/bench/mixed-{args.size_mb}.tar.gz")]
    for seed, layer in enumerate(layers, start=1):
        if not layer.exists():
            layer.parent.mkdir(parents=True, exist_ok=True)
            make_layer(layer, args.size_mb, seed=seed)
    registry = RegistryProcess()
    info = registry.start()
    proxy = FaultProxy(int(info.host.split(":")[1]))
    proxy.start()
    try:
        layout = make_image(work, layers)
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{layout}:v1",
                f"docker://{info.host}/bench/app:v1",
            ],
            check=True,
            capture_output=True,
        )
        image_bytes = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())

        t_skopeo = t_soci = float("inf")
        gets: list[str] = []
        for run in range(args.runs):  # interleaved, best of N: both see the same machine
            proxy.bytes_sent = 0
            t = time.perf_counter()
            subprocess.run(
                [
                    "skopeo",
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{proxy.host}/bench/app:v1",
                    f"dir:{work / f'copy{run}'}",
                ],
                check=True,
                capture_output=True,
            )
            t_skopeo, b_skopeo = min(t_skopeo, time.perf_counter() - t), proxy.bytes_sent

            proxy.bytes_sent = 0
            proxy.blob_gets.clear()
            t = time.perf_counter()
            subprocess.run(
                [
                    *shlex.split(args.cli),
                    "-q",
                    "index",
                    "--tag",
                    f"soci{run}",  # a new tag each run: every run does the whole job
                    f"{proxy.host}/bench/app:v1",
                ],
                check=True,
                capture_output=True,
            )
            t_soci, b_soci = min(t_soci, time.perf_counter() - t), proxy.bytes_sent
            gets = list(proxy.blob_gets)
    finally:
        proxy.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (
            "image in registry",
            f"{image_bytes / 1e6:.0f} MB ({len(layers)} large layer(s) + 3 small)",
        ),
        ("skopeo copy to dir: best time", f"{t_skopeo:.2f} s, {b_skopeo / 1e6:.1f} MB downloaded"),
        ("soci-ci index REF: best time", f"{t_soci:.2f} s, {b_soci / 1e6:.1f} MB downloaded"),
        (
            "blob downloads by soci-ci",
            f"{len(gets)} ({len(set(gets))} distinct): small layers not fetched",
        ),
        ("time ratio skopeo / soci-ci", f"{t_skopeo / t_soci:.2f}x (target >= 1.0x)"),
        ("bytes ratio soci-ci / skopeo", f"{b_soci / b_skopeo:.3f}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |\n|{'-' * (width + 2)}|---|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

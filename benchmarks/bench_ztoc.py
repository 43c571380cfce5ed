"""zTOC build speed and memory, measured against plain zlib streaming in the same run.

    python benchmarks/bench_ztoc.py [--size-mb 300] [--large-mb 1500] [--small-files 50000]

Generates layers under a temp directory (a realistic mix: text, binaries from /usr, random
data; gzip level 6), then times, best of 3:
  * the reference: streaming decompression of the same file with Python's `zlib` module;
  * `soci-ci ztoc` (the real command, a subprocess), with its peak RSS.
Also: peak RSS on a large layer (memory must not grow with layer size), the serialization
overhead of a 50,000-file layer, and an image's layers indexed in parallel vs one by one.
Prints a table of ratios (>= 1.0x means indexing is as fast as just reading the layer).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from soci_ci.soci.ztoc import Compression, build_ztoc

MiB = 1 << 20


def _binaries() -> list[Path]:
    found = []
    for root in ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"):
        for p in sorted(Path(root).glob("*")):
            if p.is_file() and not p.is_symlink() and p.stat().st_size > 4096:
                found.append(p)
    return found


def make_layer(path: Path, size_mb: int, *, seed: int = 1) -> None:
    """A tar of text, real binaries and random data, gzip -6."""
    rng = random.Random(seed)
    words = (
        [w.encode() for w in open("/usr/share/dict/words").read().split()]
        if Path("/usr/share/dict/words").exists()
        else [f"word{i}".encode() for i in range(5000)]
    )
    bins = _binaries()
    target = size_mb * MiB
    raw = path.with_suffix("")
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tar:
        written = 0
        i = 0
        while written < target:
            kind = (0, 1, 0, 1, 0, 2, 1)[i % 7]  # about 45% text, 40% binaries, 15% random
            if kind == 0:
                n = rng.randint(4 * 1024, 2 * MiB)
                lines = []
                size = 0
                while size < n:
                    line = b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
                    lines.append(line)
                    size += len(line)
                data = b"".join(lines)
                name = f"usr/share/doc/pkg{i}/README.txt"
            elif kind == 1 and bins:
                src = bins[i % len(bins)]
                data = src.read_bytes()[: 8 * MiB]
                name = f"usr/bin/tool{i}"
            else:
                data = rng.randbytes(rng.randint(64 * 1024, 3 * MiB))
                name = f"var/lib/blob{i}.bin"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            tar.addfile(info, io.BytesIO(data))
            written += len(data) + 512
            i += 1
    subprocess.run(["gzip", "-6", "-n", "-f", str(raw)], check=True)
    raw.with_suffix(raw.suffix + ".gz").rename(path)


def make_small_files_layer(path: Path, count: int) -> None:
    """`count` entries like a node_modules tree: a directory per 100 files, sizes 20 B to
    6 KiB, executable bits on some, and every file its own mtime (no cache can help)."""
    rng = random.Random(3)
    with tarfile.open(path, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        for i in range(count):
            if i % 100 == 0:
                info = tarfile.TarInfo(f"app/node_modules/pkg{i // 100}/lib")
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = 1700000000 + i
                tar.addfile(info)
                continue
            data = (f"module.exports = {i};\n" * rng.randint(1, 300)).encode()
            info = tarfile.TarInfo(f"app/node_modules/pkg{i // 100}/lib/file{i}.js")
            info.size = len(data)
            info.mode = 0o755 if i % 7 == 0 else 0o644
            info.mtime = 1700000000 + i * 3
            tar.addfile(info, io.BytesIO(data))


def zlib_stream(path: Path) -> None:
    d = zlib.decompressobj(47)
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            d.decompress(chunk)
            while d.unused_data:
                rest = d.unused_data
                d = zlib.decompressobj(47)
                d.decompress(rest)


ZLIB_CMD = (
    "import sys,zlib\n"
    "d=zlib.decompressobj(47)\n"
    "with open(sys.argv[1],'rb') as f:\n"
    "    while c:=f.read(1<<20):\n"
    "        d.decompress(c)\n"
    "        while d.unused_data:\n"
    "            r=d.unused_data; d=zlib.decompressobj(47); d.decompress(r)\n"
)


def zlib_command(path: Path) -> None:
    subprocess.run([sys.executable, "-c", ZLIB_CMD, str(path)], check=True)


def best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_cli(path: Path, out: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of `soci-ci ztoc` as a child process."""
    # VmHWM (peak RSS of this process image); ru_maxrss would include the parent's pages
    # that the child had before exec.
    code = (
        "import sys;from soci_ci.cli import main;rc=main(sys.argv[1:]);"
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
        "sys.stderr.write('RSS %s\\n' % hwm.split()[1]);sys.exit(rc)"
    )
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, "ztoc", str(path), "--output", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t
    rss_kb = int(proc.stderr.strip().splitlines()[-1].split()[1])
    return elapsed, rss_kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=300)
    ap.add_argument("--large-mb", type=int, default=0, help="also check memory on this size")
    ap.add_argument("--small-files", type=int, default=50000)
    ap.add_argument("--layers", type=int, default=4, help="layers for the parallel test")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="soci-ci-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []

    layer = work / f"mixed-{args.size_mb}.tar.gz"
    if not layer.exists():
        print(f"generating {layer} ...", file=sys.stderr)
        make_layer(layer, args.size_mb)
    usize = _gunzipped_size(layer)
    csize = layer.stat().st_size
    print(f"layer: {usize / MiB:.0f} MiB uncompressed, {csize / MiB:.0f} MiB gzip", file=sys.stderr)
    t_zlib = best_of(3, lambda: zlib_stream(layer))
    t_zlib_cmd = best_of(3, lambda: zlib_command(layer))
    t_api = best_of(3, lambda: _api(layer))
    runs = [run_cli(layer, work / "out.ztoc") for _ in range(3)]
    t_ztoc = min(r[0] for r in runs)
    rss = max(r[1] for r in runs)
    rows.append(("layer", f"{usize / MiB:.0f} MiB tar, {csize / MiB:.0f} MiB gzip -6"))
    rows.append(("python zlib streaming, in process (reference)", f"{t_zlib:.2f} s"))
    rows.append(("python zlib streaming, as a command (reference)", f"{t_zlib_cmd:.2f} s"))
    rows.append(("build_ztoc(), in process", f"{t_api:.2f} s"))
    rows.append(("soci-ci ztoc, as a command", f"{t_ztoc:.2f} s"))
    rows.append(("ratio in process (zlib / ztoc)", f"{t_zlib / t_api:.2f}x (target >= 1.0x)"))
    rows.append(("ratio as commands (zlib / ztoc)", f"{t_zlib_cmd / t_ztoc:.2f}x (target >= 1.0x)"))
    rows.append(("peak RSS soci-ci ztoc", f"{rss:.1f} MiB (target < 64 MiB)"))

    if args.large_mb:
        large = work / f"mixed-{args.large_mb}.tar.gz"
        if not large.exists():
            print(f"generating {large} ...", file=sys.stderr)
            make_layer(large, args.large_mb, seed=2)
        t_large, rss_large = run_cli(large, work / "large.ztoc")
        rows.append(
            (f"peak RSS on {args.large_mb} MB layer", f"{rss_large:.1f} MiB in {t_large:.1f} s")
        )

    small = work / f"small-{args.small_files}-v2.tar.gz"
    if not small.exists():
        make_small_files_layer(small, args.small_files)
    t_small_zlib = best_of(3, lambda: zlib_stream(small))
    t_small = best_of(3, lambda: _api(small))
    rows.append(
        (
            f"{args.small_files} small files: ztoc - zlib",
            f"{t_small - t_small_zlib:.2f} s beyond decompression (target < 0.5 s)",
        )
    )

    layers = [layer] * args.layers
    t_seq = best_of(1, lambda: [_api(p) for p in layers])
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        t_par = best_of(1, lambda: list(pool.map(_api, layers)))
    rows.append(
        (
            f"{args.layers} layers, {os.cpu_count()} threads vs 1",
            f"{t_seq:.2f} s -> {t_par:.2f} s ({t_seq / t_par:.2f}x)",
        )
    )

    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"|{'-' * (width + 2)}|--------|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    print(
        f"(self RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)",
        file=sys.stderr,
    )
    return 0


def _api(path: Path) -> None:
    with path.open("rb") as fh:
        build_ztoc(fh, compression=Compression.GZIP)


def _gunzipped_size(path: Path) -> int:
    total = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(4 * MiB):
            total += len(chunk)
    return total


if __name__ == "__main__":
    sys.exit(main())

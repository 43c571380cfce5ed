"""How many times a run reads the image: index + verify vs `skopeo copy`, same run, same registry.

    python benchmarks/bench_run.py [--layers 3] [--layer-mb 500] [--rounds 3]

Starts Debian's docker-registry on 127.0.0.1 with its access log on (the bytes of every
answer are counted from it: no proxy in the path), pushes an image of `--layers` large gzip
layers (tar of real binaries from /usr, text and random data, `gzip -6`; about 750 MB
compressed by default) and three small ones, then measures, in this order:

  * `skopeo copy docker://... dir:...`: reading the image once (the reference);
  * `soci-ci index REF --force` (a tag of its own, the whole job done every time);
  * `soci-ci verify SOCI-REF` alone (reads each span once: the chained spans are the truth);
  * `run`'s index + verify, twice: both steps in one process as `soci-ci run` calls them, the
    verify step using what the index step's layer reads recorded; once with the default
    `soci.verify.sample` (200 files per layer) and once with every file (`sample: 0`).

The five steps are repeated `--rounds` times, interleaved, and each time is the median of
its rounds, with the range; the ratios compare medians. The CPU of each step (the command's,
all threads, plus the registry's) divided by the cores is the least time the step could take
on this machine: printed beside the time, as a ratio to `skopeo copy` too.

Targets (issue 16): run's index+verify transfers <= 2.0x the indexed bytes and takes <= 1.5x
the skopeo copy; verify alone <= 1.2x the skopeo copy. Not a test: timings depend on the
machine; the figures in the README come from one run of this script.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from soci_ci.oci import media_types as mt  # noqa: E402
from tests.servers.ports import free_port  # noqa: E402
from tests.support.layers import Entry, build_tar, gz  # noqa: E402
from tests.support.vectors import write_blob, write_layout  # noqa: E402

MiB = 1 << 20
COPY = "`skopeo copy docker://... dir:...` (reading the image once)"
INDEX = "`soci-ci index`"
VERIFY = "`soci-ci verify` alone"
RUN = "`run`: index + verify, default config (soci.verify.sample 200 files per layer)"
RUN_ALL = "`run`: index + verify, every file (soci.verify.sample 0)"
CACHE = Path("/tmp/bench-run")
_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH) (\S+) HTTP/[\d.]+" (\d{3}) (\d+|-)')

RUN_STEPS = """
from dataclasses import replace
from soci_ci.app.options import RegistryOptions, VerifyImageOptions, index_image_options
from soci_ci.app.steps import index_image, verify_image
from soci_ci.cli.settings import config_from_flags
from soci_ci.oci.image_ref import parse_image_ref

# As `soci-ci run` calls them (app/pipeline.py): index keeps what its layer reads proved,
# verify uses it, on soci.verify.sample files per layer (0: every file, as `verify` alone).
flags = {{"soci.tag": ("--tag", "run-soci"), "soci.force": ("--force", True)}}
if {every_file!r}:
    flags["soci.verify.sample"] = ("--sample", 0)
soci = config_from_flags(flags).soci
options = index_image_options({ref!r}, soci, RegistryOptions())
options = replace(options, index=replace(options.index, record_for_verify=True))
report = index_image(options)
soci_ref = parse_image_ref({ref!r}).at(report.soci_image_digest)
sample = soci.verify.sample or None
checked = verify_image(VerifyImageOptions(image=soci_ref, sample=sample, records=report.records))
assert checked.ok and all(lc.truth == "record" for i in checked.indexes for lc in i.layers)
"""


def make_layer(path: Path, size_mb: int, seed: int) -> None:
    """A tar of real binaries, word text and random data (about 2:1 with gzip -6)."""
    rng = random.Random(seed)
    bins = [p for p in Path("/usr/bin").iterdir() if p.is_file() and not p.is_symlink()]
    bins = [p for p in bins if 64 * 1024 < p.stat().st_size < 16 * MiB]
    words = [f"{rng.getrandbits(40):x}".encode() for _ in range(4000)]
    text = b"\n".join(b" ".join(rng.choices(words, k=14)) for _ in range(40_000))
    raw = path.with_suffix("")
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tar:
        written, i = 0, 0
        while written < size_mb * MiB:
            kind = i % 6
            if kind in (0, 2, 4) and bins:
                data = rng.choice(bins).read_bytes()
                name = f"usr/bin/tool{i}"
            elif kind in (1, 3):
                cut = rng.randrange(len(text) // 2)
                data = text[cut : cut + rng.randint(4096, len(text) // 2)]
                name = f"usr/share/doc/pkg{i}/README"
            else:
                data = rng.randbytes(rng.randint(4096, 2 * MiB))
                name = f"var/lib/blob{i}.bin"
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
            written += len(data)
            i += 1
    subprocess.run(["gzip", "-6", "-n", "-f", str(raw)], check=True)


def image(root: Path, layers: list[bytes]) -> None:
    small = [
        gz(build_tar([Entry(name=f"etc/f{i}".encode(), data=b"x" * 2000)]).data) for i in range(3)
    ]
    blobs = layers + small
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    cdigest = write_blob(root, config)
    descs = [
        {"mediaType": mt.OCI_LAYER_GZIP, "digest": write_blob(root, b), "size": len(b)}
        for b in blobs
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": cdigest, "size": len(config)},
            "layers": descs,
        }
    ).encode()
    write_layout(root, {"v1": (manifest, mt.OCI_MANIFEST)}, [])


class Registry:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = work / "registry.log"
        config = work / "registry.yml"
        config.write_text(
            "\n".join(
                [
                    "version: 0.1",
                    "log:",
                    "  level: warn",
                    "storage:",
                    "  cache:",  # as Debian's /etc/docker/registry/config.yml has it
                    "    blobdescriptor: inmemory",
                    "  filesystem:",
                    f"    rootdirectory: {work / 'storage'}",
                    "http:",
                    f"  addr: {self.host}",
                ]
            )
            + "\n"
        )
        binary = shutil.which("docker-registry")
        if binary is None:
            raise SystemExit("docker-registry is not installed (scripts/test installs it)")
        self.proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the registry did not start")

    def mark(self) -> int:
        return self.log.stat().st_size

    def bytes_since(self, mark: int) -> tuple[int, int, int]:
        """(response bytes, whole-blob GETs, Range GETs are not distinguishable: 206s)."""
        with self.log.open("rb") as fh:
            fh.seek(mark)
            text = fh.read().decode("utf-8", "replace")
        total = whole = ranged = 0
        for m in _LINE.finditer(text):
            method, path, status, size = m.groups()
            if size != "-":
                total += int(size)
            if method == "GET" and "/blobs/" in path:
                if status == "206":
                    ranged += 1
                elif status == "200":
                    whole += 1
        return total, whole, ranged

    def cpu_seconds(self) -> float:
        """CPU time the registry process has used so far (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command: user + system, all its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if done.returncode:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}): {done.stderr[-1500:]}")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--layer-mb", type=int, default=500, help="uncompressed size of each layer")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (medians)")
    args = ap.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    CACHE.mkdir(exist_ok=True)
    paths = [CACHE / f"layer{i}-{args.layer_mb}.tar.gz" for i in range(args.layers)]
    for i, path in enumerate(paths):
        if not path.exists():
            print(f"making {path} ...", file=sys.stderr)
            make_layer(path, args.layer_mb, seed=i + 1)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="soci-ci-bench-run-"))
    registry = Registry(work)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    py = [sys.executable, "-m", "soci_ci", "-q"]
    try:
        layers = [p.read_bytes() for p in paths]
        image(work / "layout", layers)
        del layers
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--dest-tls-verify=false",
                f"oci:{work / 'layout'}:v1",
                f"docker://{registry.host}/bench/app:v1",
            ],
            check=True,
            capture_output=True,
        )
        ref = f"{registry.host}/bench/app:v1"
        # step -> per round (seconds, CPU of the command, of the registry, bytes sent, requests)
        rows: dict[str, list[tuple[float, float, float, int, str]]] = {}

        def step(name: str, argv: list[str]) -> None:
            mark = registry.mark()
            served = registry.cpu_seconds()
            seconds, cpu = timed(argv, env)
            served = registry.cpu_seconds() - served
            time.sleep(2.0)  # the access log lines of the last answers (written late)
            sent, whole, ranged = registry.bytes_since(mark)
            rows.setdefault(name, []).append(
                (
                    seconds,
                    cpu,
                    served,
                    sent,
                    f"{whole} whole-blob GETs, {ranged} Range GETs",
                )
            )
            print(f"  {name}: {seconds:.2f} s", file=sys.stderr)

        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds}", file=sys.stderr)
            shutil.rmtree(work / "copy", ignore_errors=True)
            step(
                COPY,
                [
                    "skopeo",
                    "copy",
                    "--src-tls-verify=false",
                    f"docker://{ref}",
                    f"dir:{work / 'copy'}",
                ],
            )
            step(
                INDEX,
                [
                    *py,
                    "index",
                    ref,
                    "--tag",
                    "alone-soci",
                    "--force",
                    "--output-json",
                    str(work / "i.json"),
                ],
            )
            report = json.loads((work / "i.json").read_text())
            soci = report["soci_image"]["digest"]
            indexed = sum(z["layer_size"] for z in report["ztocs"])
            step(VERIFY, [*py, "verify", f"{registry.host}/bench/app@{soci}"])
            step(RUN, [sys.executable, "-c", RUN_STEPS.format(ref=ref, every_file=False)])
            step(RUN_ALL, [sys.executable, "-c", RUN_STEPS.format(ref=ref, every_file=True)])
    finally:
        registry.stop()
        if os.environ.get("BENCH_KEEP_LOG"):
            shutil.copy(registry.log, CACHE / "registry.log")
        shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(r[0] for r in runs) for name, runs in rows.items()}
    t_copy = median[COPY]
    print(
        f"image: {args.layers} layers of {args.layer_mb} MB tar, {indexed / 1e6:.0f} MB indexed (gzip -6); "
        f"{args.rounds} interleaved rounds, medians (range)"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    cores = os.cpu_count() or 1
    print(
        "| step | time (range) | vs skopeo copy | CPU: the command + the registry "
        f"| CPU / {cores} cores, vs skopeo copy | bytes sent by the registry | vs indexed bytes "
        "| requests |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, runs in rows.items():
        times = [r[0] for r in runs]
        cpu = statistics.median(r[1] for r in runs)
        served = statistics.median(r[2] for r in runs)
        _, _, _, sent, note = runs[-1]
        print(
            f"| {name} | {median[name]:.2f} s ({min(times):.2f}-{max(times):.2f}) "
            f"| {median[name] / t_copy:.2f}x | {cpu:.1f} s + {served:.1f} s "
            f"| {(cpu + served) / cores / t_copy:.2f}x | {sent / 1e6:.1f} MB "
            f"| {sent / indexed:.2f}x | {note} |"
        )
    print(
        "\n(CPU / cores: the least time the step could take on this machine, all its cores busy, "
        "the registry included; medians of the rounds.)"
    )
    for name, limit in ((RUN, 1.5), (RUN_ALL, 1.5), (VERIFY, 1.2)):
        sent = rows[name][-1][3]
        print(
            f"target {name}: time {median[name] / t_copy:.2f}x (<= {limit}x), "
            f"bytes {sent / indexed:.2f}x" + (" (<= 2.0x)" if name != VERIFY else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What recording a start costs: `soci-ci startup`'s recording vs the same start unrecorded.

    python benchmarks/bench_startup.py [--runs 3] [--driver vfs|overlay2] [--files 300]

Starts a private dockerd (vfs or overlay2; nothing is pulled), builds an image whose start
reads FILES files of 40 kB and prints READY, then, interleaved, RUNS times each:
  * reference: create, start, wait for the READY line, kill, remove (Docker SDK, no watching);
  * recorded: `soci_ci.startup.session.record` in process (fanotify), same steps;
  * recorded through the helper container (the mode used inside the GitHub action).
Prints medians and the overhead of each recording over the reference (target: at most 1 s
on top of the application's own start time, which the reference measures).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soci_ci.startup import engine
from soci_ci.startup.session import ReadyRule, RecorderMode, record
from soci_ci.user_regex import compile_user_regex
from tests.servers.dockerd import Dockerd, import_base_image
from tests.support.startup_images import build, import_helper

REPO = Path(__file__).resolve().parents[1]


def make_image(host: str, base: str, files: int, work: Path) -> str:
    ctx = work / "ctx"
    (ctx / "data").mkdir(parents=True)
    for i in range(files):
        (ctx / "data" / f"f{i:05d}").write_bytes(bytes([i % 251]) * 40_000)
    (ctx / "entry.sh").write_text("cat /data/* > /dev/null\necho READY\nexec sleep 1000\n")
    (ctx / "Dockerfile").write_text(
        f'FROM {base}\nCOPY data/ /data/\nCOPY entry.sh /entry.sh\nCMD ["/bin/sh", "/entry.sh"]\n'
    )
    build(host, ctx, "bench/startup:1")
    return "bench/startup:1"


def reference(client: Any, image: str, rule: ReadyRule) -> float:
    started = time.monotonic()
    target = engine.create_target(client, image, engine.RunSpec(), f"bench-ref-{time.time_ns()}")
    try:
        engine.start(client, target)
        seen = []
        logs = engine.LogLines(client, target, seen.append)
        assert rule.log_regex is not None
        while not any(rule.log_regex.search(line) for line in seen):
            if time.monotonic() - started > rule.timeout_seconds:
                raise RuntimeError("reference never ready")
            time.sleep(0.05)
        engine.kill(client, target)
        engine.wait_stopped(client, target, 10)
        logs.close()
    finally:
        engine.remove(client, target)
    return time.monotonic() - started


def recorded(client: Any, image: str, rule: ReadyRule, mode: RecorderMode, helper: str) -> float:
    started = time.monotonic()
    result = record(client, image, engine.RunSpec(), rule, mode=mode, helper_image=helper)
    assert result.accesses, "nothing recorded"
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver", default="vfs")
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    dockerd = Dockerd(storage_driver=args.driver)
    host = dockerd.start()
    try:
        os.environ["DOCKER_HOST"] = host
        with tempfile.TemporaryDirectory() as tmp:
            image = make_image(host, import_base_image(host), args.files, Path(tmp))
        helper = import_helper(host, "bench/recorder:1", REPO / "soci_ci")
        client = engine.connect()
        rule = ReadyRule(log_regex=compile_user_regex("^READY$", key="bench"), timeout_seconds=60)
        times: dict[str, list[float]] = {"reference": [], "local": [], "helper": []}
        for _ in range(args.runs):
            times["reference"].append(reference(client, image, rule))
            times["local"].append(recorded(client, image, rule, RecorderMode.LOCAL, helper))
            times["helper"].append(recorded(client, image, rule, RecorderMode.HELPER, helper))
        ref = statistics.median(times["reference"])
        print(f"driver {args.driver}, {args.files} files read at start, {args.runs} runs each")
        print(f"{'measure':<34} {'median s':>9} {'overhead s':>11}")
        print(f"{'unrecorded start (reference)':<34} {ref:>9.3f} {'':>11}")
        for mode in ("local", "helper"):
            med = statistics.median(times[mode])
            verdict = "ok" if med - ref <= 1.0 else "OVER 1 s"
            print(
                f"{'recorded, ' + mode + ' recorder':<34} {med:>9.3f} {med - ref:>+11.3f}  {verdict}"
            )
    finally:
        dockerd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

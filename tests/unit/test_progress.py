"""Progress lines: silent for quick work, then one line per interval with share and rate."""

from __future__ import annotations

import threading

from soci_ci.app.progress import ByteProgress


def test_quiet_until_the_interval_then_one_line_per_interval() -> None:
    now = [100.0]
    lines: list[str] = []
    progress = ByteProgress(
        200_000_000, "layers", interval=5.0, clock=lambda: now[0], emit=lines.append
    )
    report = progress.counter()
    report(10_000_000)
    now[0] = 104.0
    report(40_000_000)
    assert lines == []
    now[0] = 105.0
    report(50_000_000)
    now[0] = 106.0
    report(60_000_000)  # within the next interval: nothing
    assert lines == ["  read 50.0 of 200.0 MB of layers (25 %), 10 MB/s"]
    now[0] = 110.0
    report(100_000_000)
    assert lines[-1] == "  read 100.0 of 200.0 MB of layers (50 %), 10 MB/s"


def test_streams_from_several_threads_add_up() -> None:
    progress = ByteProgress(0, "layers", emit=lambda line: None)
    counters = [progress.counter() for _ in range(4)]

    def feed(report: object) -> None:
        assert callable(report)
        for done in range(1, 1001):
            report(done * 1000)

    threads = [threading.Thread(target=feed, args=(c,)) for c in counters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert progress.done == 4 * 1_000_000

"""Progress of long byte-bound work (reading layers), logged at most every few seconds.

Work that ends quickly says nothing; past `interval` seconds a line like
``  read 412.3 of 756.1 MB of layers (54 %), 98 MB/s`` appears every `interval` seconds, from
whichever worker thread reports bytes. CI logs keep a steady, readable heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0


class ByteProgress:
    def __init__(
        self,
        total: int,
        what: str,
        *,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[str], None] = log.info,
    ) -> None:
        self.total = total
        self.what = what
        self.done = 0
        self._interval = interval
        self._clock = clock
        self._emit = emit
        self._started = clock()
        self._next = self._started + interval
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = self._clock()
            if now < self._next:
                return
            self._next = now + self._interval
            done, elapsed = self.done, now - self._started
        share = f" ({100 * done / self.total:.0f} %)" if self.total else ""
        rate = done / elapsed / 1e6 if elapsed > 0 else 0.0
        self._emit(
            f"  read {done / 1e6:.1f} of {self.total / 1e6:.1f} MB of {self.what}{share}, "
            f"{rate:.0f} MB/s"
        )

    def counter(self) -> Callable[[int], None]:
        """A callback for one stream that reports its running total (`build_ztoc(progress=)`)."""
        last = 0

        def report(done: int) -> None:
            nonlocal last
            self.add(done - last)
            last = done

        return report

"""When to retry a registry call, and how long to wait: capped, jittered exponential backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from soci_ci.backoff import backoff_delay

# Temporary answers: request timeout, throttling, server errors and gateways.
TEMPORARY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def is_temporary_status(status: int) -> bool:
    return status in TEMPORARY_STATUS


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """`attempts` tries in all; waits grow as base * 2^n (jittered to 50-100 %), capped."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before try number `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None:
            return min(retry_after, self.cap)
        return backoff_delay(attempt, base=self.base, cap=self.cap, jitter=self.jitter())

    def can_retry(self, attempt: int) -> bool:
        return attempt + 1 < self.attempts

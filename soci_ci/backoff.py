"""Capped exponential backoff, shared by every retry loop (registry, AWS, GitHub)."""

from __future__ import annotations


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float | None = None) -> float:
    """``base * 2**attempt`` seconds, capped at ``cap``.

    ``jitter`` (a draw in [0, 1)) scales the wait to 50-100 % of that, so clients that failed
    together do not retry together; ``None`` keeps it deterministic.
    """
    delay = min(cap, base * 2.0 ** min(attempt, 64))
    return delay if jitter is None else delay * (0.5 + 0.5 * jitter)

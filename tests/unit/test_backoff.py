"""The one backoff: base * 2**attempt, capped, jitter (injected) scaling it to 50-100 %."""

from __future__ import annotations

from soci_ci.backoff import backoff_delay


def test_doubles_up_to_the_cap_and_is_deterministic_without_jitter() -> None:
    delays = [backoff_delay(n, base=1.0, cap=30.0) for n in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_delay(10_000, base=0.5, cap=20.0) == 20.0  # no overflow on long retries
    assert backoff_delay(3, base=0.0, cap=20.0) == 0.0  # SOCI_CI_RETRY_BASE_SECONDS=0


def test_jitter_spreads_the_wait_between_half_and_all_of_it() -> None:
    assert backoff_delay(2, base=1.0, cap=30.0, jitter=0.0) == 2.0
    assert backoff_delay(2, base=1.0, cap=30.0, jitter=0.5) == 3.0
    assert backoff_delay(9, base=1.0, cap=30.0, jitter=0.999) < 30.0

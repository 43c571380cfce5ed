"""Backoff maths and Retry-After parsing."""

from __future__ import annotations

from email.utils import formatdate

from soci_ci.registry.retry import RetryPolicy, is_temporary_status, parse_retry_after


def test_backoff_is_exponential_jittered_and_capped() -> None:
    low = RetryPolicy(base=1.0, cap=5.0, jitter=lambda: 0.0)
    high = RetryPolicy(base=1.0, cap=5.0, jitter=lambda: 1.0)
    assert [low.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [high.delay(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(base=1.0, cap=5.0)
    assert policy.delay(0, 3.0) == 3.0
    assert policy.delay(0, 3600.0) == 5.0


def test_attempts_bound_the_retries() -> None:
    policy = RetryPolicy(attempts=3)
    assert [policy.can_retry(n) for n in range(4)] == [True, True, False, False]


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0


def test_only_temporary_statuses_are_retried() -> None:
    assert [
        s for s in (400, 401, 403, 404, 408, 429, 500, 502, 503, 504) if is_temporary_status(s)
    ] == [
        408,
        429,
        500,
        502,
        503,
        504,
    ]


def test_backoff_delay_caps_jitters_and_never_overflows() -> None:
    from soci_ci.backoff import backoff_delay

    assert [backoff_delay(n, base=0.5, cap=5.0) for n in range(6)] == [0.5, 1, 2, 4, 5, 5]
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=0.0) == 4.0  # 50 % of 8
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=0.999) < 8.0
    assert backoff_delay(5000, base=1.0, cap=30.0) == 30.0

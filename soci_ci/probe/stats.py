"""Summary statistics of one phase over the runs of an arm (pure).

Quantiles use linear interpolation between order statistics (Hyndman & Fan type 7, the
default of numpy and R, ``statistics.quantiles(method="inclusive")``): for sorted values
``x[0..n-1]`` the q-quantile is ``x[h]`` interpolated at ``h = (n - 1) * q``.
p90 is the 0.9 quantile; IQR is q(0.75) - q(0.25). One value gives p90 = that value, IQR 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from soci_ci.probe.model import PhaseStats


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Type-7 quantile of already sorted values (at least one)."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} outside [0, 1]")
    h = (len(sorted_values) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (h - low) * (sorted_values[high] - sorted_values[low])


def _round(value: float) -> float:
    return round(value, 3)


def summarize(values: Iterable[float]) -> PhaseStats:
    """n, median, mean, p90, min, max, IQR (seconds, rounded to ms); all None when empty."""
    data = sorted(values)
    if not data:
        return PhaseStats(n=0, median=None, mean=None, p90=None, min=None, max=None, iqr=None)
    return PhaseStats(
        n=len(data),
        median=_round(quantile(data, 0.5)),
        mean=_round(math.fsum(data) / len(data)),
        p90=_round(quantile(data, 0.9)),
        min=_round(data[0]),
        max=_round(data[-1]),
        iqr=_round(quantile(data, 0.75) - quantile(data, 0.25)),
    )

"""Significance of a regression: one-sided Mann-Whitney U (exact when small) + Hodges-Lehmann.

Exact: the U statistic's null distribution is enumerated over every split of the pooled
(mid-)ranks, so ties are handled and n=5 per arm is fine (252 splits). Above
``EXACT_LIMIT`` splits the normal approximation with tie correction is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from itertools import combinations
from statistics import median

EXACT_LIMIT = 200_000
P_TOLERANCE = 1e-12


class Method(StrEnum):
    EXACT = "exact Mann-Whitney U"
    NORMAL = "Mann-Whitney U (normal approximation)"
    NONE = "none (too few samples)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Significance:
    method: Method
    p_value: float | None  # one-sided: current is slower than baseline
    confidence: float
    shift_seconds: float | None  # Hodges-Lehmann estimate of current - baseline
    p_exact: Fraction | None = None  # the exact test's p as a fraction (hits / splits)

    @property
    def significant(self) -> bool:
        """p < 1 - confidence, compared exactly: p = 0.05 is *not* significant at 95 %.

        The confidence is read as the decimal it was written as (0.95 -> 19/20); the exact
        test's p is a fraction; the normal approximation's p is compared with a tolerance."""
        if self.p_value is None:
            return False
        alpha = 1 - Fraction(repr(self.confidence))
        if self.p_exact is not None:
            return self.p_exact < alpha
        return self.p_value < float(alpha) - P_TOLERANCE

    def describe(self) -> str:
        if self.p_value is None:
            return f"{self.method}"
        return f"{self.method}, one-sided p={self.p_value:.4f}, confidence {self.confidence:.0%}"


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def hodges_lehmann(current: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Median of all pairwise differences current - baseline."""
    if not current or not baseline:
        return None
    return float(median(c - b for c in current for b in baseline))


def slower(
    current: Sequence[float], baseline: Sequence[float], *, confidence: float
) -> Significance:
    """Test H1: ``current`` tends to be larger (slower) than ``baseline``."""
    n, m = len(current), len(baseline)
    shift = hodges_lehmann(current, baseline)
    if n < 2 or m < 2:
        return Significance(
            method=Method.NONE, p_value=None, confidence=confidence, shift_seconds=shift
        )
    pooled = [*current, *baseline]
    ranks = _ranks(pooled)
    observed = sum(ranks[:n])
    if math.comb(n + m, n) <= EXACT_LIMIT:
        total = 0
        hits = 0
        for idx in combinations(range(n + m), n):
            total += 1
            if sum(ranks[i] for i in idx) >= observed - 1e-9:
                hits += 1
        return Significance(
            method=Method.EXACT,
            p_value=hits / total,
            confidence=confidence,
            shift_seconds=shift,
            p_exact=Fraction(hits, total),
        )
    u = observed - n * (n + 1) / 2.0
    mean_u = n * m / 2.0
    counts: dict[float, int] = {}
    for value in pooled:
        counts[value] = counts.get(value, 0) + 1
    ties = sum(t**3 - t for t in counts.values())
    big_n = n + m
    var_u = n * m / 12.0 * ((big_n + 1) - ties / (big_n * (big_n - 1)))
    if var_u <= 0:
        p = 1.0
    else:
        z = (u - mean_u - 0.5) / math.sqrt(var_u)  # continuity correction
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
    return Significance(method=Method.NORMAL, p_value=p, confidence=confidence, shift_seconds=shift)

from __future__ import annotations

import math

from soci_ci.gate.stats import Method, hodges_lehmann, slower


def test_exact_fully_separated_is_one_over_252() -> None:
    sig = slower([6, 7, 8, 9, 10], [1, 2, 3, 4, 5], confidence=0.95)
    assert sig.method is Method.EXACT
    assert sig.p_value == 1 / 252
    assert sig.significant
    assert sig.shift_seconds == 5.0


def test_exact_other_direction_is_not_significant() -> None:
    sig = slower([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], confidence=0.95)
    assert sig.p_value == 1.0
    assert not sig.significant


def test_identical_samples_with_ties() -> None:
    sig = slower([3, 3, 3], [3, 3, 3], confidence=0.95)
    assert sig.p_value == 1.0
    assert not sig.significant


def test_exact_one_overlap() -> None:
    # ranks of current: 5,6,7,8,9 vs 1,2,3,4,10 -> U = 20 of 25;
    # splits with U >= 20: 1 + 1 + 2 + 3 + 5 + 7 = 19 of C(10, 5) = 252
    sig = slower([5, 6, 7, 8, 9], [1, 2, 3, 4, 10], confidence=0.95)
    assert sig.p_value is not None
    assert math.isclose(sig.p_value, 19 / 252)
    assert not sig.significant  # 0.075 > 0.05


def test_confidence_changes_significance() -> None:
    sig = slower([6, 7, 8, 9, 10], [1, 2, 3, 4, 5], confidence=0.999)
    assert not sig.significant  # 1/252 > 0.001


def test_normal_approximation_for_large_samples() -> None:
    current = [float(i) + 0.5 for i in range(30)]
    base = [float(i) for i in range(30)]
    sig = slower(current, base, confidence=0.95)
    assert sig.method is Method.NORMAL
    assert sig.p_value is not None and 0.3 < sig.p_value < 0.6
    far = slower([x + 100 for x in base], base, confidence=0.95)
    assert far.p_value is not None and far.p_value < 1e-6


def test_too_few_samples() -> None:
    sig = slower([1.0], [2.0, 3.0], confidence=0.95)
    assert sig.method is Method.NONE
    assert sig.p_value is None and not sig.significant


def test_hodges_lehmann() -> None:
    assert hodges_lehmann([2, 4], [1]) == 2.0
    assert hodges_lehmann([], [1]) is None


def test_p_of_exactly_alpha_is_not_significant() -> None:
    """p = 0.05 at 95 % confidence: not significant (1 - 0.95 is 0.05000000000000004 in floats)."""
    from fractions import Fraction

    from soci_ci.gate.stats import Method, Significance

    at_alpha = Significance(
        method=Method.EXACT,
        p_value=0.05,
        confidence=0.95,
        shift_seconds=1.0,
        p_exact=Fraction(1, 20),
    )
    assert not at_alpha.significant
    below = Significance(
        method=Method.EXACT,
        p_value=0.0476,
        confidence=0.95,
        shift_seconds=1.0,
        p_exact=Fraction(1, 21),
    )
    assert below.significant
    normal = Significance(method=Method.NORMAL, p_value=0.05, confidence=0.95, shift_seconds=1.0)
    assert not normal.significant

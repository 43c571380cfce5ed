from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soci_ci.probe.model import PhaseStats
from soci_ci.probe.stats import quantile, summarize


def test_summary_of_five_runs() -> None:
    # the published no-SOCI Corretto figures, one decimal less
    values = [36.1, 35.2, 36.9, 35.8, 35.9]
    assert summarize(values) == PhaseStats(
        n=5, median=35.9, mean=35.98, p90=36.58, min=35.2, max=36.9, iqr=0.3
    )


def test_single_value_and_empty() -> None:
    assert summarize([2.5]) == PhaseStats(
        n=1, median=2.5, mean=2.5, p90=2.5, min=2.5, max=2.5, iqr=0.0
    )
    assert summarize([]) == PhaseStats(
        n=0, median=None, mean=None, p90=None, min=None, max=None, iqr=None
    )


def test_quantile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="outside"):
        quantile([1.0], 1.5)


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=2, max_size=30))
def test_quantiles_match_statistics_inclusive(values: list[float]) -> None:
    data = sorted(values)
    deciles = statistics.quantiles(data, n=10, method="inclusive")
    quartiles = statistics.quantiles(data, n=4, method="inclusive")
    assert quantile(data, 0.9) == pytest.approx(deciles[8], abs=1e-9)
    assert quantile(data, 0.25) == pytest.approx(quartiles[0], abs=1e-9)
    assert quantile(data, 0.5) == pytest.approx(statistics.median(data), abs=1e-9)

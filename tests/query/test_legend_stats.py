"""The legend table's figures: min, max, mean, last per series, NaN and ±Inf left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from query.legend_stats import formatted, series_stats


def frame(rows) -> pd.DataFrame:
    """rows: (epoch s, series, instance, value)."""
    t, series, instance, value = zip(*rows, strict=True)
    return pd.DataFrame({"timestamp": pd.to_datetime(t, unit="s", utc=True),
                         "series": pd.Categorical(series), "instance": pd.Categorical(instance),
                         "value": np.array(value, dtype=float)})


def test_each_series_gets_its_min_max_mean_and_last_finite_value():
    stats, total = series_stats(frame([
        (0, "a", "a:1", 2.0), (60, "a", "a:1", np.nan), (120, "a", "a:1", 6.0),
        (180, "a", "a:1", np.inf), (0, "b", "b:1", -1.0), (60, "b", "b:1", 1.0)]))
    assert total == 2
    assert [(s.series, s.labels["instance"], s.min, s.max, s.mean, s.last) for s in stats] == [
        ("a", "a:1", 2.0, 6.0, 4.0, 6.0), ("b", "b:1", -1.0, 1.0, 0.0, 1.0)]


def test_times_out_of_order_still_give_the_latest_as_last():
    [stat], _ = series_stats(frame([(120, "a", "x", 3.0), (0, "a", "x", 1.0)]))
    assert stat.last == 3.0


def test_a_series_of_only_nan_has_no_figures_and_rows_are_bounded():
    rows = [(0, f"s{i:03d}", "x", np.nan if i == 0 else float(i)) for i in range(120)]
    stats, total = series_stats(frame(rows), most=50)
    assert total == 120 and len(stats) == 50
    assert stats[0][2:] == (None, None, None, None)
    assert series_stats(frame(rows).iloc[:0]) == ([], 0)


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.1234, "percentunit", "12.3%"), (1_500_000, "bytes", "1.5 MB"), (12, "B/s", "12 B/s"),
    (3.14159, "req/s", "3.142 req/s"), (5, "%", "5%"), (None, "s", "–"), (2.5, "", "2.5"),
])
def test_figures_are_written_in_the_panels_unit(value, unit, text):
    assert formatted(value, unit) == text

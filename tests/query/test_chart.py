"""query/chart.py: frame → lines, without per-series lookups, bounded and with gaps."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from query import chart


def frame(rows):
    ts = pd.to_datetime([r[0] for r in rows], unit="s", utc=True)
    return pd.DataFrame({
        "timestamp": ts, "value": [r[1] for r in rows],
        "series": pd.Categorical([r[2] for r in rows]),
        "job": pd.Categorical([r[3] for r in rows]),
    })


def test_series_groups_sort_by_time_and_keep_each_series_labels():
    f = frame([(20, 2.0, "b", "jb"), (10, 1.0, "a", "ja"), (0, 0.5, "b", "jb"),
               (30, 3.0, "a", "ja")])
    groups = dict(chart.series_groups(f))
    assert list(groups["b"][0]) == [0, 20000] and list(groups["b"][1]) == [0.5, 2.0]
    assert groups["a"][2] == {"job": "ja"} and groups["b"][2] == {"job": "jb"}


def test_a_series_missing_a_label_has_no_such_key():
    f = frame([(0, 1.0, "a", "ja"), (0, 2.0, "b", None)])
    groups = dict(chart.series_groups(f))
    assert groups["b"][2] == {}


def test_lines_break_at_gaps_and_count_infinities():
    f = frame([(0, 1.0, "a", "j"), (10, np.inf, "a", "j"), (20, 2.0, "a", "j"),
               (60, 3.0, "a", "j")])
    lines, notes = chart.lines(f, points=7, step_s=10)
    (line,) = lines
    assert np.isnan(line.y[1]) and np.isnan(line.y[3])  # ±Inf not drawn; the hole broken
    assert list(line.x) == [0, 10000, 20000, 30000, 60000]
    assert notes == ["1 ±Inf samples are not drawn"]


def test_bounded_keeps_the_highest_peaks_within_the_point_budget():
    groups = [(f"s{i}", (np.arange(3.0), np.full(3, float(i)), {})) for i in range(10)]
    keep, notes = chart.bounded(groups, points=chart.POINT_BUDGET // 4)
    assert [g[0] for g in keep] == ["s6", "s7", "s8", "s9"]
    assert notes and "showing 4 of 10 series" in notes[0]


def test_typed_is_base64_float64_little_endian():
    t = chart.typed(np.array([1.0, np.nan]))
    back = np.frombuffer(base64.b64decode(t["bdata"]), "<f8")
    assert t["dtype"] == "f8" and back[0] == 1.0 and np.isnan(back[1])

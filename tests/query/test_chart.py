"""query/chart.py: frame → lines, without per-series lookups, bounded and with gaps."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from datasources import prometheus as prom
from datasources.errors import DatasourceError
from query import chart
from tests.fuzz_bodies import FUZZ_SETTINGS, bodies

FIXTURES = Path(__file__).parents[1] / "fixtures" / "prometheus"


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


# --- the same lines as the plain per-series way, on real and fuzzed bodies -------------------

def reference_groups(frame):
    """The plain way: one boolean mask and one stable time sort per series, labels per row."""
    out = []
    for name in frame["series"].cat.categories:
        rows = frame[frame["series"] == name]
        if rows.empty:
            continue
        rows = rows.iloc[np.argsort(rows["timestamp"].to_numpy(), kind="stable")]
        t_ms = rows["timestamp"].dt.as_unit("ms").array.asi8.astype(np.float64)
        labels = {c: rows[c].iloc[0] for c in frame.columns[3:]}
        out.append((name, (t_ms, rows["value"].to_numpy(),
                           {c: v for c, v in labels.items() if isinstance(v, str)})))
    return out


def reference_lines(frame, points, step_s):
    keep, notes = chart.bounded(reference_groups(frame), points)
    out, infinite = [], 0
    for name, (t_ms, y, labels) in keep:
        infinite += int(np.count_nonzero(np.isinf(y)))
        x, y_plot = chart.with_gaps(t_ms, np.where(np.isfinite(y), y, np.nan), step_s * 1000)
        out.append(chart.Line(name, labels, x, y_plot))
    return out, notes + ([f"{infinite} ±Inf samples are not drawn"] if infinite else [])


def assert_same_lines(frame, points=7, step_s=60.0):
    got, notes = chart.lines(frame, points, step_s)
    want, want_notes = reference_lines(frame, points, step_s)
    assert notes == want_notes
    assert [(g.series, g.labels) for g in got] == [(w.series, w.labels) for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.x, w.x)
        np.testing.assert_array_equal(g.y, w.y)
    groups = chart.series_groups(frame)
    assert [(n, lab) for n, (_, _, lab) in groups] \
        == [(n, lab) for n, (_, _, lab) in reference_groups(frame)]


RECORDED = sorted(p.stem for p in FIXTURES.glob("*.json")
                  if p.stem != "INDEX" and ("matrix" in p.stem or "vector" in p.stem
                                            or "labels_quotes" in p.stem))


@pytest.mark.parametrize("name", RECORDED)
@pytest.mark.parametrize("points", [7, chart.POINT_BUDGET // 2])
def test_lines_equal_the_per_series_way_on_recorded_bodies(name, points):
    f = prom.frame_from_response((FIXTURES / f"{name}.json").read_bytes())
    assert_same_lines(f, points)
    # Rows in any order (a frame not from Prometheus) give the same lines.
    shuffled = f.iloc[np.random.default_rng(0).permutation(len(f))].reset_index(drop=True)
    assert_same_lines(shuffled, points)


def test_the_recorded_bodies_cover_every_path():
    assert {"prom_matrix", "prom_special_matrix", "prom_labels_quotes", "prom_matrix_gap",
            "prom_empty_matrix", "vm_vector"} <= set(RECORDED)


def test_equal_times_keep_their_frame_order_and_ties_in_peaks_keep_the_later_series():
    f = frame([(10, 1.0, "a", "j"), (10, 2.0, "a", "j"), (0, 5.0, "b", "k"),
               (0, -5.0, "c", None), (5, np.nan, "a", "j")])
    assert_same_lines(f)
    assert_same_lines(f, points=chart.POINT_BUDGET)


@settings(max_examples=300, derandomize=True, **FUZZ_SETTINGS)
@given(bodies())
def test_lines_equal_the_per_series_way_on_fuzzed_bodies(named):
    _, body = named
    try:
        f = prom.frame_from_response(body)
    except DatasourceError:
        return
    assert_same_lines(f, points=3)
    assert_same_lines(f, points=chart.POINT_BUDGET)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_epoch_ms_floors_like_pandas_in_every_unit(unit):
    raw = np.array([-1501, -1, 0, 1, 1499, 10**12], dtype=np.int64)
    stamps = pd.Series(pd.array(raw.view(f"M8[{unit}]")).tz_localize("UTC"))
    want = stamps.dt.as_unit("ms").array.asi8.astype(np.float64)
    np.testing.assert_array_equal(chart.epoch_ms(stamps), want)
    with_nat = pd.concat([stamps, pd.Series([pd.NaT], dtype=stamps.dtype)])
    np.testing.assert_array_equal(chart.epoch_ms(with_nat),
                                  with_nat.dt.as_unit("ms").array.asi8.astype(np.float64))

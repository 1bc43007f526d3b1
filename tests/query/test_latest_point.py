"""query.latest_point: an instant answer joined to a range frame as each series' last point.

Frames are framed from Prometheus bodies by the datasource's own parser, so they have the
real shape: categorical series and labels, datetime64[ns, UTC] timestamps, warnings in attrs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from datasources.prometheus import frame_from_response
from query import chart
from query.latest_point import joined


def body(kind: str, result: list, warnings: list[str] | None = None) -> str:
    doc = {"status": "success", "data": {"resultType": kind, "result": result}}
    return json.dumps({**doc, "warnings": warnings} if warnings else doc)


RANGE = frame_from_response(body("matrix", [
    {"metric": {"instance": "a", "job": "api"}, "values": [[100, "1"], [200, "2"]]},
    {"metric": {"instance": "b", "job": "api"}, "values": [[100, "3"], [200, "4"]]},
], warnings=["range warning"]))


def instant(samples: list[tuple[dict, float, str]], warnings=None) -> pd.DataFrame:
    return frame_from_response(body("vector", [{"metric": m, "value": [t, v]}
                                               for m, t, v in samples], warnings))


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [(s, t.timestamp(), v) for s, t, v in zip(
        frame["series"].astype(str), frame["timestamp"], frame["value"], strict=True)]


def test_each_series_gets_its_latest_sample_as_its_last_point_in_frame_order():
    # The instant answer lists the series in another order, one of them a NaN value.
    latest = instant([({"instance": "b", "job": "api"}, 215, "NaN"),
                      ({"instance": "a", "job": "api"}, 215, "5")])
    out = joined(RANGE, latest)
    a, b = '{instance="a",job="api"}', '{instance="b",job="api"}'
    got = rows(out)
    assert got[:3] == [(a, 100, 1), (a, 200, 2), (a, 215, 5)]
    assert got[3][:2] == (b, 100) and got[4][:2] == (b, 200) and got[5][:2] == (b, 215)
    assert np.isnan(got[5][2])  # a NaN answer is kept: it is what Prometheus said
    assert out["series"].cat.categories.tolist() == [a, b]
    assert out["timestamp"].dtype == RANGE["timestamp"].dtype and out["value"].dtype == float


def test_a_series_only_in_one_answer_keeps_its_own_points_and_labels():
    latest = instant([({"instance": "c", "job": "api", "zone": "z1"}, 215, "9"),
                      ({"instance": "a", "job": "api"}, 215, "5")])
    out = joined(RANGE, latest)
    # b has no latest point; c, only in the instant answer, comes after the range's series.
    assert [s for s, _, _ in rows(out)] == [
        '{instance="a",job="api"}'] * 3 + ['{instance="b",job="api"}'] * 2 + [
        '{instance="c",job="api",zone="z1"}']
    for column in ("series", "instance", "job", "zone"):
        assert isinstance(out[column].dtype, pd.CategoricalDtype), column
    assert out["instance"].tolist() == ["a"] * 3 + ["b"] * 2 + ["c"]
    assert out["zone"].isna().tolist() == [True] * 5 + [False]
    # The chart draws c as a line of its own, a and b end where their samples do.
    lines, _ = chart.lines(out, 3, 100)
    assert [line.x.tolist() for line in lines] == [[100e3, 200e3, 215e3], [100e3, 200e3],
                                                   [215e3]]


def test_warnings_of_both_are_kept_once_and_the_inputs_are_not_changed():
    latest = instant([({"instance": "a", "job": "api"}, 215, "5")],
                     warnings=["range warning", "instant warning"])
    before = RANGE.copy()
    out = joined(RANGE, latest)
    assert out.attrs["warnings"] == ["range warning", "instant warning"]
    assert RANGE.attrs["warnings"] == ["range warning"]
    pd.testing.assert_frame_equal(RANGE, before)


def test_a_stale_sample_not_newer_than_the_range_is_left_out():
    # A last-good answer from an older instant: it must not go back in time.
    latest = instant([({"instance": "a", "job": "api"}, 200, "7"),
                      ({"instance": "b", "job": "api"}, 150, "8")])
    out = joined(RANGE, latest)
    assert rows(out) == rows(RANGE) and out.attrs["warnings"] == ["range warning"]


def test_an_empty_side_gives_the_other():
    empty = instant([])
    assert rows(joined(RANGE, empty)) == rows(RANGE)
    latest = instant([({"instance": "a", "job": "api"}, 215, "5")])
    out = joined(RANGE.iloc[:0], latest)
    assert rows(out) == [('{instance="a",job="api"}', 215, 5)]

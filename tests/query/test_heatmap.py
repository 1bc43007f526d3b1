"""Heatmap grids, quantiles on the rows (checked against Prometheus' own), exemplar links."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasources import prom_histograms as ph
from query import exemplar_link
from query import heatmap as hm
from query import range_state as rp

FIXTURES = Path(__file__).parents[1] / "fixtures"
INDEX = json.loads((FIXTURES / "prometheus" / "INDEX.json").read_text())


def recorded(name: str) -> bytes:
    return (FIXTURES / INDEX[name]["file"]).read_bytes()


@pytest.mark.parametrize("kind", ["classic", "native"])
def test_our_quantile_is_prometheus_histogram_quantile_of_the_same_buckets(kind):
    # Recorded at the same instant: Prometheus' histogram_quantile(0.95) over all routes.
    theirs = float(json.loads(recorded(f"prom_{kind}_quantile"))["data"]["result"][0]["value"][1])
    g, notes = hm.grid(ph.buckets_from_response(recorded(f"prom_{kind}_vector")))
    value, position = hm.quantile(g, 0.95)
    assert math.isclose(value[0], theirs, rel_tol=1e-9) and notes == []
    row = int(position[0] + 0.5)
    assert g.lower[row] <= theirs <= g.upper[row]


def frame(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    t, lower, upper, count = zip(*rows, strict=True)
    return pd.DataFrame({"timestamp": pd.to_datetime(list(t), unit="s", utc=True),
                         "lower": lower, "upper": upper, "count": count,
                         "boundary": np.zeros(len(rows), np.int8)})


def test_grid_sums_series_into_rows_by_bound_and_columns_by_time():
    g, _ = hm.grid(frame([(60, 0.1, 0.2, 1), (0, 0, 0.1, 2), (0, 0.1, 0.2, 3),
                          (0, 0.1, 0.2, 4), (60, 0.2, math.inf, 5)]))
    assert g.upper.tolist() == [0.1, 0.2, math.inf] and g.x_ms.tolist() == [0, 60_000]
    assert g.z.tolist() == [[2, 0], [7, 1], [0, 5]]


def test_quantiles_interpolate_inside_a_bucket_and_stop_at_the_inf_bucket():
    g, _ = hm.grid(frame([(0, 0, 1, 5), (0, 1, 2, 5), (60, 1, 2, 1), (60, 2, math.inf, 9),
                          (120, 0, 1, 0)]))
    value, position = hm.quantile(g, 0.5)
    assert value[0] == 1.0 and position[0] == pytest.approx(0.5)
    assert value[1] == 2.0  # in +Inf: the lower bound, as histogram_quantile answers
    assert math.isnan(value[2]) and math.isnan(position[2])  # nothing observed then


def test_row_position_puts_a_value_in_proportion_inside_its_bucket():
    g, _ = hm.grid(frame([(0, 0, 1, 1), (0, 1, 3, 1), (0, 3, math.inf, 1)]))
    assert hm.row_position(g, np.array([0.5, 2, 100, 1])).tolist() == [0, 1, 2, 0.5]


def test_too_many_cells_merge_neighbouring_buckets_keeping_every_count():
    rows = [(t, b, b + 1, 1) for t in range(0, 600, 60) for b in range(40)]
    g, notes = hm.within_budget(hm.grid(frame(rows))[0], budget=100)
    assert g.z.size <= 100 and g.z.sum() == 400 and notes
    assert g.lower[0] == 0 and g.upper[-1] == 40


def test_exemplar_points_keep_ids_and_drop_non_finite_values():
    ex = pd.DataFrame({"timestamp": pd.to_datetime([1, 2], unit="s", utc=True),
                       "value": [0.2, math.nan], "series": ["a", "a"],
                       "request_id": ["r1", "r2"], "trace_id": ["t1", None]})
    points, notes = hm.exemplars(ex)
    assert points.x_ms.tolist() == [1000] and points.ids == [{"request_id": "r1",
                                                              "trace_id": "t1"}]
    assert hm.exemplars(None)[0].ids == [] and notes == []


def test_an_exemplar_link_opens_logs_on_its_request_around_its_time():
    search = exemplar_link.logs_search("?tab=metrics&metrics.from=now-1h",
                                       {"trace_id": "t1", "request_id": 'r"1'}, 1_714_564_800)
    params = rp.url_params(search)
    assert params["tab"] == "logs" and params["metrics.from"] == "now-1h"
    assert params["logs.q"] == '{job=~".+"} |= "r\\"1"'
    assert (params["logs.from"], params["logs.to"]) == ("2024-05-01T11:55:00Z",
                                                        "2024-05-01T12:05:00Z")
    assert exemplar_link.trace_query({"trace_id": "t1"}) == '{job=~".+"} |= "t1"'
    assert exemplar_link.logs_search("", {"span_id": "s"}, 1) is None

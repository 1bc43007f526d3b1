"""Heatmap figures and exemplar points, and the click that opens Logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from callbacks.heatmap import clicked_link
from datasources import prom_histograms as ph
from datasources.cache import Result
from datasources.errors import Unreachable
from layouts import heatmap as heat
from layouts import metrics as view
from query import heatmap as hm
from query import range_state as rp
from query.timerange import plan

FIXTURES = Path(__file__).parents[1] / "fixtures"
INDEX = json.loads((FIXTURES / "prometheus" / "INDEX.json").read_text())


def recorded(name: str) -> bytes:
    return (FIXTURES / INDEX[name]["file"]).read_bytes()


def test_a_recorded_native_histogram_draws_rows_quantiles_and_exemplars():
    p = INDEX["prom_native_matrix"]["params"]
    g, _ = hm.grid(ph.buckets_from_response(recorded("prom_native_matrix")))
    points, _ = hm.exemplars(ph.exemplars_from_response(recorded("prom_exemplars")))
    window = plan(p["start"], p["end"], max_data_points=100)
    fig = heat.heatmap_figure(g, window, unit="s", points=points,
                              quantiles={"p95": hm.quantile(g, 0.95)})
    cells, p95, marks = fig["data"]
    assert cells["type"] == "heatmap" and len(cells["z"]) == len(g.upper)
    assert len(cells["z"][0]) == len(g.x_ms) and cells["customdata"][0][0].startswith("(")
    assert p95["name"] == "p95" and marks["name"] == heat.EXEMPLAR_NAME
    assert all(-0.5 <= y <= len(g.upper) - 0.5 for y in marks["y"])
    assert fig["layout"]["yaxis"]["ticktext"][0] == hm.bound_text(g.upper[0])
    json.dumps(fig)  # plain JSON: no numpy left in it


def test_an_empty_grid_says_so():
    g, _ = hm.grid(ph.empty_buckets())
    fig = heat.heatmap_figure(g, plan(0, 3600, max_data_points=10))
    assert fig["data"] == [] and "no histogram" in fig["layout"]["annotations"][0]["text"]


def test_line_charts_get_exemplar_points_clickable_through_to_logs():
    points = hm.Exemplars(np.array([1_714_564_800_000.0]), np.array([0.3]),
                          [{"request_id": "r1", "trace_id": "t1"}])
    fig = heat.with_exemplars({"data": [{"type": "scatter"}], "layout": {}}, points, "s")
    marks = fig["data"][-1]
    assert marks["y"] == [0.3] and fig["layout"]["hovermode"] == "closest"
    click = {"points": [{"customdata": marks["customdata"][0]}]}
    params = rp.url_params(clicked_link(click, "?tab=metrics"))
    assert params["tab"] == "logs" and params["logs.q"] == '{job=~".+"} |= "r1"'
    for bad in (None, {}, {"points": []}, {"points": [{"customdata": ["r", "t", math.inf]}]},
                {"points": [{"customdata": [1, 2, 3]}]}, {"points": [{"y": 1}]}):
        assert clicked_link(bad, "") is None


def test_an_errors_warnings_are_shown_on_its_panel():
    error = Unreachable("Prometheus", "query timed out", warnings=["careful"])
    shown = json.dumps([c.to_plotly_json() if hasattr(c, "to_plotly_json") else c
                        for c in view.notice(Result(None, error=error))], default=str)
    assert "careful" in shown

"""Charts from frames: one trace per series, gaps as gaps, units, WebGL, a bounded payload.

Then the tab's server callbacks, called directly on an app whose Prometheus counts requests.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
from dash._utils import to_json
from dash.exceptions import PreventUpdate

from app import create_app
from config import Upstream
from datasources.cache import Cache, Result
from datasources.errors import QueryError, Unreachable
from datasources.prometheus import Prometheus, empty_frame, frame_from_response
from layouts import ids
from layouts import metrics as view
from query import chart, panels
from query.timerange import Window, plan
from tests.counting_server import CountingServer
from tests.metrics_stack import DAY, FLEET_SERIES

BODIES = Path(__file__).parents[1] / "fixtures" / "prometheus"
INDEX = json.loads((BODIES / "INDEX.json").read_text())
PAYLOAD_LIMIT = 1_500_000


def recorded(name: str) -> tuple:
    """A recorded body's frame and the window it was asked for."""
    params = INDEX[name]["params"]
    frame = frame_from_response((BODIES / f"{name}.json").read_bytes())
    start, end, step = (params.get(k, params.get("time")) for k in ("start", "end", "step"))
    return frame, Window(float(start), float(end), float(step or 60))


def decoded(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f8")


def test_one_trace_per_series_with_exact_times_and_values():
    frame, window = recorded("prom_matrix")
    fig, notes = view.figure(frame, window, legend="{{instance}}")
    assert [t["name"] for t in fig["data"]] == sorted(set(frame["instance"]))
    for trace in fig["data"]:
        rows = frame[frame["instance"] == trace["name"]].sort_values("timestamp")
        assert decoded(trace["y"]).tolist() == rows["value"].tolist()
        assert (decoded(trace["x"]) / 1000).tolist() == [
            t.timestamp() for t in rows["timestamp"]]
    assert notes == [] and {t["type"] for t in fig["data"]} == {"scatter"}


def test_a_missing_stretch_is_a_gap_not_a_line():
    frame, window = recorded("prom_matrix_gap")  # instance c has no samples for a day
    fig, _ = view.figure(frame, window)
    x, y = decoded(fig["data"][0]["x"]) / 1000, decoded(fig["data"][0]["y"])
    hole = np.flatnonzero(np.isnan(y))
    assert len(hole) == 1
    assert x[hole[0] - 1] < x[hole[0]] < x[hole[0] + 1]
    assert x[hole[0] + 1] - x[hole[0] - 1] > 1.5 * window.step
    assert fig["data"][0]["connectgaps"] is False


def test_infinities_are_left_out_and_said_so_and_nan_is_a_gap():
    frame, window = recorded("prom_special_matrix")
    fig, notes = view.figure(frame, window, legend="{{kind}}")
    by_name = {t["name"]: decoded(t["y"]) for t in fig["data"]}
    assert set(by_name) == {"inf", "minus_inf", "nan", "one"}
    assert np.isnan(by_name["inf"]).all() and np.isnan(by_name["nan"]).all()
    assert by_name["one"].tolist() == [1.0, 1.0, 1.0]
    assert notes == ["6 ±Inf samples are not drawn"]


def test_legends_show_quote_and_unicode_label_values_as_they_are():
    frame, window = recorded("prom_labels_quotes")
    fig, _ = view.figure(frame, window, legend="path: {{ path }}")
    assert sorted(t["name"] for t in fig["data"]) == sorted(
        f"path: {p}" for p in frame["path"].unique())
    assert 'path: say "hi"' in {t["name"] for t in fig["data"]}


def test_legends_escape_plotlys_html_so_a_label_is_never_a_link():
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": '<a href="https://x.invalid">x</a> & <b>'},
         "values": [[0, "1"], [60, "2"]]}]}}
    fig, _ = view.figure(frame_from_response(body), Window(0, 60, 60), legend="{{job}}")
    assert fig["data"][0]["name"] == (
        '&lt;a href="https://x.invalid"&gt;x&lt;/a&gt; &amp; &lt;b&gt;')
    assert view.GRAPH_CONFIG["showSendToCloud"] is False
    assert view.GRAPH_CONFIG["plotlyServerURL"] == ""
    assert {"sendChartToCloud", "select2d"} <= set(view.GRAPH_CONFIG["modeBarButtonsToRemove"])


def test_no_samples_says_no_data_for_this_range():
    fig, notes = view.figure(empty_frame(), Window(0, 3600, 60))
    assert fig["data"] == [] and notes == []
    assert fig["layout"]["annotations"][0]["text"] == "no data for this range"


def test_the_whole_window_is_shown_and_a_double_click_can_autorange():
    frame, window = recorded("prom_matrix")
    xaxis = view.figure(frame, window)[0]["layout"]["xaxis"]
    assert xaxis["autorange"] is True
    assert xaxis["autorangeoptions"]["include"] == [window.start * 1000, window.end * 1000]


@pytest.mark.parametrize(("unit", "expected"), [
    ("percentunit", {"tickformat": ".3~%"}),
    ("bytes", {"tickformat": "~s", "ticksuffix": "B"}),
    ("s", {"tickformat": "~s", "ticksuffix": "s"}),
    ("%", {"ticksuffix": "%"}),
    ("req/s", {"title": {"text": "req/s"}}),
])
def test_units_are_on_the_axis(unit, expected):
    fmt = view.axis_format(unit)
    assert {k: fmt[k] for k in expected} == expected


@pytest.mark.parametrize(("fmt", "expected"), [
    ("{{instance}} {{mode}}", "a:9100 idle"),
    ("{{ missing }}", 'up{instance="a:9100"}'),  # nothing left: the series name
    ("", 'up{instance="a:9100"}'),
])
def test_legend_format(fmt, expected):
    labels = {"instance": "a:9100", "mode": "idle"}
    assert view.legend_name(fmt, labels, 'up{instance="a:9100"}') == expected


def test_gaps_are_inserted_one_step_after_the_last_sample():
    x, y = chart.with_gaps(np.array([0.0, 10, 20, 60, 70]), np.array([1.0, 2, 3, 4, 5]), 10)
    assert x.tolist() == [0, 10, 20, 30, 60, 70]
    assert np.isnan(y[3]) and y[[0, 1, 2, 4, 5]].tolist() == [1, 2, 3, 4, 5]


def test_a_stale_panel_says_since_when_and_why_and_shows_prometheus_warnings():
    frame, _ = recorded("prom_matrix")
    frame.attrs["warnings"] = ["PromQL info: metric might not be a counter"]
    fetched = time.mktime((2024, 5, 1, 10, 0, 0, 0, 0, -1))
    result = Result(value=frame, error=Unreachable("Prometheus", "connection refused"),
                    stale=True, fetched_at=fetched)
    parts = view.notice(result, ["a note"])
    assert [p.children for p in parts] == [
        "stale since 10:00:00 — Prometheus unreachable: connection refused",
        "PromQL info: metric might not be a counter", "a note"]


def test_a_failed_query_without_data_shows_the_upstreams_words():
    error = QueryError("Prometheus", "1:8: parse error: unexpected end of input",
                       error_type="bad_data")
    (alert,) = view.notice(Result(error=error))
    assert alert.children[-1].children == (
        "Prometheus rejected the query: bad_data: 1:8: parse error: unexpected end of input")


# --- payload at any range, on a real server ----------------------------------------------------


@pytest.fixture
def fleet(fleet_vm, tmp_path):
    upstream = Upstream("VictoriaMetrics", fleet_vm.url, timeout=20, cache_ttl=60)
    return Prometheus(upstream, Cache(tmp_path / "cache"))


@pytest.mark.parametrize("width", [600, 1400, 4000])
def test_a_30_day_panel_of_150_series_stays_under_the_payload_bound(fleet, history_end, width):
    window = plan(history_end - 30 * DAY, history_end, max_data_points=width)
    frame = fleet.query_range("fleet_load", window.start, window.end, window.step).value
    assert frame["series"].nunique() == FLEET_SERIES
    fig, notes = view.figure(frame, window)
    size = len(to_json(fig))
    print(f"30 d, {width} px: {len(fig['data'])} traces, {size / 1e6:.2f} MB")
    assert size < PAYLOAD_LIMIT
    assert {t["type"] for t in fig["data"]} == {"scattergl"}
    assert notes[0].startswith(f"showing {len(fig['data'])} of {FLEET_SERIES} series")


# --- callbacks, called directly ----------------------------------------------------------------

LABEL_VALUES = b'{"status": "success", "data": ["up"]}'
MINE = """
[[panels]]
title = "Scrapes up"
query = "up"
"""


@pytest.fixture
def prometheus():
    """A Prometheus stand-in answering every GET with one label value, counting them."""
    server = CountingServer(LABEL_VALUES)
    yield server
    server.stop()


@pytest.fixture
def metrics_callback(write_config, prometheus):
    """Start an app on ``prometheus``; returns its callbacks/metrics.py function by name."""

    def start(extra: str = ""):
        app = create_app(write_config(f'[prometheus]\nurl = "{prometheus.url}"\n{extra}'))
        server_side = [c["callback"].__wrapped__ for c in app.callback_map.values()
                       if "callback" in c]  # clientside ones have no Python function
        found = {f.__name__: f for f in server_side if f.__module__ == "callbacks.metrics"}
        return found.__getitem__

    return start


def options(*values: str) -> list[dict]:
    return [{"label": v, "value": v} for v in values]


def test_back_and_forward_keep_the_variables_options(metrics_callback):
    from_url = metrics_callback()("from_url")
    out = from_url("?metrics.job=node&metrics.instance=b%3A9100", "", "api", None,
                   options("api", "node"), options("a:9100"))
    assert out[:4] == ("", "", "node", "b:9100")
    # Nothing fetches the options again: they stay, with a value only the link knows.
    assert out[4:] == (options("api", "node"), options("a:9100", "b:9100"))


def test_configured_panels_are_built_without_listing_metric_names(metrics_callback, prometheus):
    grid, notice = metrics_callback(MINE)("build")(800, None, None, None, None)
    assert prometheus.count == 0
    assert '"panel":"scrapes-up"' in to_json(grid) and notice is None


def test_seed_panels_are_built_from_the_metric_names_listed(metrics_callback, prometheus):
    grid, notice = metrics_callback()("build")(800, None, None, None, None)
    assert prometheus.count == 1
    offered = len(panels.configured(()))  # every seed: none of their metrics is listed here
    assert "request-rate" not in to_json(grid) and f"0 of {offered} " in to_json(notice)


def test_a_width_that_could_not_be_measured_still_loads_the_tab(metrics_callback):
    callback = metrics_callback(MINE)
    with pytest.raises(PreventUpdate):
        callback("build")(None, None, None, None, None)  # the tab has not been shown yet
    grid, _ = callback("build")(0, None, None, None, None)
    assert '"panel":"scrapes-up"' in to_json(grid)
    assert callback("jobs")(0, None) == options("up")


def test_downloading_a_bad_range_does_nothing_and_asks_nothing(metrics_callback, prometheus):
    download = metrics_callback(MINE)("download")
    with pytest.raises(PreventUpdate):
        download(1, {"from": "now", "to": "now-1h"}, None, None, 800, "",
                 {"type": ids.METRICS_CSV, "panel": "scrapes-up"})
    assert prometheus.count == 0

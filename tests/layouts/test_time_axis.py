"""Figures on another zone's clock: every time a Metrics figure draws is moved, once; a live
chart patched in a zone equals one drawn fresh in it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dash import Patch, no_update
from dash._utils import to_json

from layouts import chart_extras, time_axis
from layouts import heatmap as heat
from layouts import metrics as view
from query import chart, panels
from query import heatmap as hm
from query.annotations import Mark
from query.compare import Anomaly
from query.timerange import Window, plan
from tests.layouts.test_live import SCRAPE, SEEDS, applied, prometheus  # noqa: F401  (fixture)
from tests.metrics_stack import MINUTE

KOLKATA, SHIFT = "Asia/Kolkata", 5.5 * 3_600_000  # UTC+05:30 all year
T0 = 1_764_547_200_000.0  # 2025-12-01 00:00 UTC, in ms


def figure() -> dict:
    return {
        "data": [{"type": "scatter", "x": [T0, T0 + 60_000, None], "y": [1, 2, 3]},
                 {"type": "scattergl", "x": chart.typed(np.array([T0, T0 + 1.5])),
                  "y": chart.typed(np.array([1.0, 2.0]))},
                 {"type": "heatmap", "x": [T0], "y": [0], "z": [[1]]}],
        "layout": {"shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": T0,
                               "x1": T0 + 1000},
                              {"type": "line", "xref": "paper", "x0": 0.5, "x1": 0.5}],
                   "annotations": [{"xref": "x", "x": T0, "text": "1.4.0"},
                                   {"xref": "paper", "x": 0, "text": "note"}],
                   "xaxis": {"type": "date", "autorangeoptions": {"include": [T0, T0 + 1]},
                             "title": {"text": "UTC", "standoff": 4}}},
    }


def test_every_time_on_the_figure_moves_and_the_axis_names_the_zone():
    fig = time_axis.localized(figure(), KOLKATA)
    lines, typed, cells = fig["data"]
    assert lines["x"] == [T0 + SHIFT, T0 + 60_000 + SHIFT, None]
    assert chart.untyped(typed["x"]).tolist() == [T0 + SHIFT, T0 + 1.5 + SHIFT]
    assert cells["x"] == [T0 + SHIFT] and cells["z"] == [[1]]
    rect, paper_line = fig["layout"]["shapes"]
    assert (rect["x0"], rect["x1"]) == (T0 + SHIFT, T0 + 1000 + SHIFT)
    assert paper_line["x0"] == 0.5  # placed on the paper, not in time
    assert [a["x"] for a in fig["layout"]["annotations"]] == [T0 + SHIFT, 0]
    axis = fig["layout"]["xaxis"]
    assert axis["autorangeoptions"]["include"] == [T0 + SHIFT, T0 + 1 + SHIFT]
    assert axis["title"]["text"] == KOLKATA and axis["title"]["standoff"] == 4


def test_a_browser_on_the_zones_clock_gets_the_instants_and_utc_elsewhere_moves_back():
    # plotly.js shows milliseconds on the browser's clock: a Kolkata browser showing Kolkata
    # time needs the instants as they are; showing UTC, 5.5 h earlier ones.
    same = time_axis.localized(figure(), KOLKATA, KOLKATA)
    assert same["data"][0]["x"] == [T0, T0 + 60_000, None]
    assert same["layout"]["xaxis"]["title"]["text"] == KOLKATA
    utc = time_axis.localized(figure(), "UTC", KOLKATA)
    assert utc["data"][0]["x"] == [T0 - SHIFT, T0 + 60_000 - SHIFT, None]
    assert utc["layout"]["shapes"][0]["x0"] == T0 - SHIFT
    assert utc["layout"]["xaxis"]["title"]["text"] == "UTC"


def test_utc_patches_and_no_update_are_left_as_they_are():
    fig = figure()
    assert time_axis.localized(fig, "UTC") is fig
    patch = Patch()
    assert time_axis.localized(patch, KOLKATA) is patch
    assert time_axis.localized(no_update, KOLKATA) is no_update
    assert time_axis.moved(["2025-12-01 00:00"], KOLKATA) == ["2025-12-01 00:00"]


def test_a_heatmap_and_its_exemplars_move_but_their_log_links_keep_the_instant():
    grid = hm.Grid(x_ms=np.array([T0, T0 + 60_000]), lower=np.array([0.0, 0.1]),
                   upper=np.array([0.1, 0.2]), boundary=np.array([0, 0]),
                   z=np.array([[1.0, 2.0], [3.0, 4.0]]))
    points = hm.Exemplars(x_ms=np.array([T0 + 30_000]), values=np.array([0.15]),
                          ids=[{"request_id": "r-1"}])
    window = Window(T0 / 1000, T0 / 1000 + 60, 60)
    fig = time_axis.localized(heat.heatmap_figure(grid, window, points=points), KOLKATA)
    cells, dots = fig["data"][0], fig["data"][-1]
    assert cells["x"] == [T0 + SHIFT, T0 + 60_000 + SHIFT]
    assert dots["x"] == [T0 + 30_000 + SHIFT]
    assert dots["customdata"][0][2] == (T0 + 30_000) / 1000  # Logs opens on the real instant


def zoned(prometheus, panel, now: float, held=None, zone: str = KOLKATA,  # noqa: F811
          browser: str = "UTC"):
    window = plan(now - 3600, now, max_data_points=700)
    query = panels.expand(panel.query, step=window.step, scrape_interval=SCRAPE)
    result = prometheus.query_range(query, window.start, window.end, window.step)
    assert result.ok, result.error
    fig, notes, record = view.live_chart(result.value, window, held, unit=panel.unit,
                                         legend=panel.legend, revision="now-1h|now",
                                         query=query, revise=SCRAPE, zone=zone,
                                         browser=browser)
    return time_axis.localized(fig, zone, browser), notes, record


@pytest.mark.parametrize(("zone", "browser", "shift"), [(KOLKATA, "UTC", SHIFT),
                                                       ("UTC", KOLKATA, -SHIFT)])
def test_a_live_chart_in_a_zone_patches_to_the_fresh_chart_in_that_zone(
        prometheus, history_end, zone, browser, shift):  # noqa: F811
    panel = SEEDS["request-rate"]
    times = [history_end - 20 * MINUTE + 3 + 5 * i for i in range(12)]
    fig, _, held = zoned(prometheus, panel, times[0], zone=zone, browser=browser)
    utc = json.loads(to_json(zoned(prometheus, panel, times[0], zone="UTC")[0]))
    shown = json.loads(to_json(fig))
    assert shown["data"][0]["x"] == [x + shift for x in utc["data"][0]["x"]]
    assert shown["layout"]["xaxis"]["title"]["text"] == zone
    patches = 0
    for now in times[1:]:
        update, _, new_held = zoned(prometheus, panel, now, held, zone, browser)
        if update is not no_update:
            assert isinstance(update, Patch)
            shown, held, patches = applied(shown, update), new_held, patches + 1
        fresh = zoned(prometheus, panel, now, zone=zone, browser=browser)[0]
        assert shown == json.loads(to_json(fresh))
    assert patches >= 5


def test_annotation_hovers_and_the_anomaly_list_read_on_the_zones_clock():
    start = T0 / 1000 + 3600  # 01:00 UTC is 06:30 in Kolkata
    marks = [Mark("deploys", "api 1.4.0", start), Mark("alerts", "HighErrorRate", start,
                                                          start + 600, "critical")]
    fig = chart_extras.with_marks({"data": [], "layout": {}}, marks, KOLKATA)
    hovers = [a["hovertext"] for a in fig["layout"]["annotations"]]
    assert hovers == ["api 1.4.0 at 2025-12-01 06:30 Asia/Kolkata",
                      "HighErrorRate: 2025-12-01 06:30 → 2025-12-01 06:40 Asia/Kolkata"]
    assert fig["layout"]["shapes"][0]["x0"] == start * 1000  # moved by ``localized``, once
    found = [Anomaly("api-1", start, start + 300, 9.0, 1.0)]
    listed = str(chart_extras.anomaly_list("errors", found, 1, pad=60, zone=KOLKATA))
    assert "2025-12-01 06:30 → 06:35 Asia/Kolkata · api-1" in listed
    assert "'from': '2025-12-01T00:59:00Z'" in listed  # the link's range stays UTC

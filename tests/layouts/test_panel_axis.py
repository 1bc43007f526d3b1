"""A panel's y axis on its figure: log scale, fixed limits, threshold lines, and the live path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layouts import metrics as view
from layouts import panel_axis
from query.timerange import Window
from query.y_axis import Threshold, YAxis, from_config

WINDOW = Window(1_700_000_000, 1_700_000_600, 60)


def frame(values=(1.0, 2.0, 3.0)) -> pd.DataFrame:
    t = pd.to_datetime(WINDOW.start + 60 * np.arange(len(values)), unit="s", utc=True)
    return pd.DataFrame({"timestamp": t, "series": pd.Categorical(["up"] * len(values)),
                         "value": np.array(values, dtype=float)})


def test_a_plain_axis_leaves_the_figure_as_it_was():
    plain, _ = view.figure(frame(), WINDOW)
    assert view.figure(frame(), WINDOW, y=YAxis())[0] == plain
    assert "shapes" not in plain["layout"] and plain["layout"]["yaxis"]["rangemode"] == "tozero"


@pytest.mark.parametrize(("y", "expected"), [
    (YAxis(lo=0, hi=10), {"autorange": False, "range": [0, 10]}),
    (YAxis(lo=2), {"autorange": "max", "range": [2, None]}),
    (YAxis(hi=10), {"autorange": "min", "range": [None, 10]}),
    (YAxis("log", 0.1, 1000), {"type": "log", "autorange": False, "range": [-1.0, 3.0]}),
])
def test_limits_and_scale_are_set_on_the_y_axis(y, expected):
    fig, _ = view.figure(frame(), WINDOW, y=y)
    axis = fig["layout"]["yaxis"]
    assert {k: axis.get(k) for k in expected} == expected
    assert ("rangemode" in axis) == (y.scale == "linear")
    assert axis["fixedrange"] is True  # a drag still zooms time only


def test_thresholds_are_dashed_lines_across_the_plot_and_a_log_axis_skips_those_at_zero():
    y = from_config("log", thresholds=[0, 5, {"value": 50, "color": "orange"}])
    fig, _ = view.figure(frame(), WINDOW, y=y)
    shapes = fig["layout"]["shapes"]
    assert [(s["y0"], s["y1"], s["line"]["color"]) for s in shapes] == [
        (5.0, 5.0, "#dc3545"), (50.0, 50.0, "orange")]
    assert all(s["xref"] == "paper" and (s["x0"], s["x1"]) == (0, 1) for s in shapes)


def test_an_empty_chart_gets_no_axis_changes():
    fig = view.empty_figure("no data")
    assert panel_axis.apply(fig, YAxis(lo=1, hi=2, thresholds=(Threshold(1.5),))) == fig


def test_a_changed_axis_redraws_a_live_chart_rather_than_patching_it():
    # The axis is in the live signature: a patch would keep the browser's old layout.
    _, _, held = view.live_chart(frame(), WINDOW, None, y=YAxis())
    same, _, _ = view.live_chart(frame(), WINDOW, held, y=YAxis())
    changed, _, _ = view.live_chart(frame(), WINDOW, held, y=YAxis(thresholds=(Threshold(2),)))
    assert not isinstance(same, dict)  # no_update: nothing changed
    assert isinstance(changed, dict) and changed["layout"]["shapes"][0]["y0"] == 2

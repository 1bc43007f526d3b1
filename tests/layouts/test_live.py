"""Live refresh by patch: a chart patched tick after tick equals one drawn fresh.

Against a real Prometheus holding a known history (``tests.metrics_stack``): the seed panels'
own queries, a 1 h window moving in 5 s ticks (new points, points falling off the left edge)
and in 1 min ticks across the ten minutes api-2 was down (a gap arriving, then leaving by
the left edge). The patches are applied the way dash-renderer applies them, on the JSON the
browser holds.
"""

from __future__ import annotations

import json

import pytest
from dash import Patch, no_update
from dash._utils import to_json

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from layouts import metrics as view
from query import live, panels
from query.latest_point import joined
from query.timerange import latest_instant, plan
from tests.metrics_stack import DAY, MINUTE

SEEDS = {p.slug: p for p in panels.SEEDS}
SCRAPE = 60


@pytest.fixture
def prometheus(history_prometheus, tmp_path):
    upstream = Upstream("Prometheus", history_prometheus.url, timeout=10, cache_ttl=60)
    return Prometheus(upstream, Cache(tmp_path / "cache"))


def applied(figure, patch) -> dict:
    """``figure`` (as the browser holds it: JSON) after ``patch``, as dash-renderer does it."""
    fig = json.loads(to_json(figure))
    for op in json.loads(to_json(patch))["operations"]:
        *path, last = op["location"]
        node = fig
        for key in path:
            node = node[key]
        if isinstance(last, int) and last < 0:
            last += len(node)
        if op["operation"] == "Delete":
            del node[last]
        elif op["operation"] == "Extend":
            node[last] = node[last] + op["params"]["value"]
        elif op["operation"] == "Assign":
            node[last] = op["params"]["value"]
        else:
            raise AssertionError(f"unexpected patch operation {op['operation']}")
    return fig


def chart(prometheus, panel, now: float, held=None, width: int = 700):
    window = plan(now - 3600, now, max_data_points=width)
    query = panels.expand(panel.query, step=window.step, scrape_interval=SCRAPE)
    result = prometheus.query_range(query, window.start, window.end, window.step)
    assert result.ok, result.error
    return view.live_chart(result.value, window, held, unit=panel.unit, legend=panel.legend,
                           revision="now-1h|now", query=query, revise=SCRAPE)


def with_latest(prometheus, panel, now: float, held=None):
    """A live "last day" chart (15 min steps) with its latest point, as the panel draws it."""
    window = plan(now - DAY, now, max_data_points=100)
    query = panels.expand(panel.query, step=window.step, scrape_interval=SCRAPE)
    frame = prometheus.query_range(query, window.start, window.end, window.step).value
    at = latest_instant("now-1d", "now", window, now, SCRAPE)
    if at is not None:
        frame = joined(frame, prometheus.query(query, at).value)
    return view.live_chart(frame, window, held, unit=panel.unit, legend=panel.legend,
                           revision="now-1d|now", query=query, revise=SCRAPE, reach=at)


def walk(prometheus, panel, times, draw=chart) -> dict:
    """Draw at ``times[0]``, patch at every later time, compare with a fresh draw each time."""
    fig, _, held = draw(prometheus, panel, times[0])
    shown = json.loads(to_json(fig))
    seen = {"patch": 0, "same": 0, "dropped": 0}
    for now in times[1:]:
        update, _, new_held = draw(prometheus, panel, now, held)
        fresh = json.loads(to_json(draw(prometheus, panel, now)[0]))
        if update is no_update:
            seen["same"] += 1
        else:
            assert isinstance(update, Patch), f"a whole figure at {now}"
            seen["patch"] += 1
            ops = json.loads(to_json(update))["operations"]
            seen["dropped"] += sum(o["location"][-1] == 0 for o in ops
                                   if o["operation"] == "Delete")
            shown = applied(shown, update)
            held = new_held
        assert shown == fresh, f"patched chart differs from a fresh one at {now}"
    return seen


@pytest.mark.parametrize("slug", ["request-rate", "active-connections", "cache-hit-ratio"])
def test_five_second_ticks_patch_to_the_fresh_chart(prometheus, history_end, slug):
    start = history_end - 20 * MINUTE + 3  # the live edge inside the history, off the grid
    seen = walk(prometheus, SEEDS[slug], [start + 5 * i for i in range(25)])
    # 1 h at 700 px is a 10 s step: every other tick moves the window, the others change nothing
    assert seen["patch"] >= 12 and seen["same"] >= 10 and seen["dropped"] >= 12


def test_a_gap_arrives_then_falls_off_the_left_edge(prometheus, history_end):
    # api-2 is down from 40 to 30 min before the end: walk the live edge into the gap and the
    # window's left edge out of it, a minute at a time.
    panel = SEEDS["active-connections"]
    arriving = [history_end - 45 * MINUTE + 60 * i for i in range(10)]
    assert walk(prometheus, panel, arriving)["patch"] == 9
    leaving = [history_end + 15 * MINUTE + 60 * i for i in range(18)]
    fig, _, _ = chart(prometheus, panel, leaving[0])
    assert any(v is None for t in json.loads(to_json(fig))["data"] for v in t["y"])
    assert walk(prometheus, panel, leaving)["patch"] == 17
    fig, _, _ = chart(prometheus, panel, leaving[-1])
    assert not any(v is None for t in json.loads(to_json(fig))["data"] for v in t["y"])


def test_whole_figure_when_the_series_or_query_change(prometheus, history_end):
    now = history_end - 20 * MINUTE
    _, _, held = chart(prometheus, SEEDS["request-rate"], now)
    # Another panel's record (another query, other series): a redraw, not a patch.
    fig, _, _ = chart(prometheus, SEEDS["active-connections"], now + 10, held)
    assert isinstance(fig, dict) and fig["data"]
    # A record forged or garbled by the browser costs a redraw, never an error.
    for bad in ({"sig": held["sig"], "traces": "x"}, {**held, "traces": [[1, 2, 3, "d"]]},
                {**held, "traces": [[5, 9, 1.0, "d"]] * len(held["traces"])}, [], "x"):
        fig, _, _ = chart(prometheus, SEEDS["request-rate"], now + 10, bad)
        assert isinstance(fig, dict) and fig["data"]


def test_a_long_jump_sends_the_whole_figure(prometheus, history_end):
    now = history_end - 3 * 3600
    _, _, held = chart(prometheus, SEEDS["request-rate"], now)
    fig, _, _ = chart(prometheus, SEEDS["request-rate"], now + 2000, held)  # 200 steps on
    assert isinstance(fig, dict) and fig["data"] and live.MAX_DROPS <= 200


@pytest.mark.parametrize("slug", ["request-rate", "active-connections"])
def test_the_latest_point_moves_by_patch_across_steps_and_is_never_kept(prometheus,
                                                                        history_end, slug):
    # A minute a tick over 40 minutes of a 15 min step: each tick moves the latest point, two
    # or three move the window too; every patched chart equals the fresh one.
    times = [history_end - 50 * MINUTE + 7 + 60 * i for i in range(40)]
    seen = walk(prometheus, SEEDS[slug], times, draw=with_latest)
    assert seen["patch"] == 39 and seen["dropped"] >= 2
    fig, _, held = with_latest(prometheus, SEEDS[slug], times[-1])
    assert held["end"] < held["reach"] == times[-1] // SCRAPE * SCRAPE
    for trace in json.loads(to_json(fig))["data"]:
        assert trace["x"] == sorted(set(trace["x"])) and trace["x"][-1] == held["reach"] * 1000

"""A live 7 d panel ends at now: its latest point from one instant query per scrape interval.

Against the history Prometheus of the test stack (scraping itself every second), through a
recording proxy that passes the instant queries on to it, or to a fault server answering
500. The window's 2 h step made the chart stop up to 2 h short of now.
"""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest
import requests

from app import create_app
from stack.poll import until
from tests import dash_calls
from tests.callbacks.test_live_refresh import STATE, STEP, WIDTH, render, viewer
from tests.fault_server import FaultServer
from tests.recording_upstream import RecordingUpstream

#: metrics.scrape_interval here: the history Prometheus scrapes every second; four leave a
#: render and a redraw, on a busy machine, the time to ask the same instant
SCRAPE = 4
GRAPH = '{"panel":"up","type":"metrics-graph"}'
HELD = '{"panel":"up","type":"metrics-held"}'
NOTICE = '{"panel":"up","type":"metrics-notice"}'
INSTANT = "/api/v1/query"
#: the jobs' targets, scraped since the session began, and a clock with a value at any time
#: (every step of the week: lines with settled points and a latest one)
QUERY = 'sum by (job) (up) or label_replace(vector(time()), "job", "clock", "", "")'


class Proxy(RecordingUpstream):
    """Forwards to Prometheus, status and body; instant queries to ``instant`` (settable)."""

    def __init__(self, url: str):
        self.instant = url

        def forward(path):
            def answer(params):
                base = self.instant if path == INSTANT else url
                resp = requests.post(base + path, data=params, timeout=10)
                return resp.status_code, resp.content
            return answer
        super().__init__({p: forward(p) for p in ("/api/v1/query_range", INSTANT)})


def scraped_a_while(url: str) -> bool:
    """Whether both jobs had been scraped two intervals ago (a fresh server has no ``up``
    at an instant floored to the interval: run first, the test would see one series)."""
    answer = requests.get(url + INSTANT, params={"query": "up", "time": time.time() - 2 * SCRAPE},
                          timeout=5).json()
    return len(answer["data"]["result"]) >= 2


@pytest.fixture
def proxy(history_prometheus):
    until(lambda: scraped_a_while(history_prometheus.url), timeout=30,
          message="the history Prometheus has not scraped its targets yet")
    server = Proxy(history_prometheus.url)
    yield server
    server.stop()


@pytest.fixture
def app(write_config, proxy):
    return create_app(write_config(f"""
[prometheus]
url = "{proxy.url}"
cache_ttl = 0.5
[metrics]
scrape_interval = {SCRAPE}
[[panels]]
title = "Up"
query = '{QUERY}'
"""))


def early_in_an_instant() -> None:
    """Wait for the first half of a scrape interval, away from a step's edges."""
    while time.time() % SCRAPE > SCRAPE / 2 or not 10 < time.time() % STEP < STEP - 10:
        time.sleep(0.05)


def drawn(app, client, held=None, triggered="metrics-range-state.data"):
    _, response = render(app, client, held, triggered=triggered)
    return response


def xs(figure) -> list[list[float]]:
    return [trace["x"] for trace in figure["data"]]


def test_a_live_7d_panel_ends_within_a_scrape_interval_of_now(app, proxy):
    client = viewer(app)
    early_in_an_instant()
    asked = time.time()
    response = drawn(app, client)
    figure, held = response[GRAPH]["figure"], response[HELD]["data"]
    assert len(figure["data"]) == 3  # the clock, and the jobs prometheus and node
    last = max(x[-1] for x in xs(figure)) / 1000
    # Before: the window's end, floored to the 2 h step.
    assert held["end"] == (asked // STEP) * STEP < last
    assert asked - SCRAPE < last <= time.time() and last % SCRAPE == 0
    assert held["reach"] == last
    assert figure["layout"]["xaxis"]["autorangeoptions"]["include"] == [
        held["start"] * 1000, last * 1000]
    [call] = proxy.to(INSTANT)
    assert call["params"]["query"] == QUERY and float(call["params"]["time"]) == last
    # Another viewer within the same scrape interval: no new instant query.
    drawn(app, viewer(app))
    assert len(proxy.to(INSTANT)) == 1 and len(proxy.to("/api/v1/query_range")) == 1


def apply(figure: dict, operations: list[dict]) -> dict:
    """A Dash Patch's operations applied to the figure the browser holds."""
    for op in operations:
        *path, last = op["location"]
        node = figure
        for key in path:
            node = node[key]
        if op["operation"] == "Assign":
            node[last] = op["params"]["value"]
        elif op["operation"] == "Delete":
            del node[last]
        elif op["operation"] == "Extend":
            node[last].extend(op["params"]["value"])
        else:
            raise AssertionError(f"unexpected patch operation {op['operation']}")
    return figure


def test_a_tick_replaces_the_latest_point_and_never_keeps_an_old_one(app, proxy):
    client = viewer(app)
    early_in_an_instant()
    response = drawn(app, client)
    figure, held = response[GRAPH]["figure"], response[HELD]["data"]
    before = [list(x) for x in xs(figure)]
    # The next instant: the tick patches the held chart.
    time.sleep(SCRAPE - time.time() % SCRAPE)
    early_in_an_instant()
    response = drawn(app, client, held, triggered="metrics-range-interval.n_intervals")
    patch = response[GRAPH]["figure"]
    assert patch["__dash_patch_update"]
    figure = apply(figure, patch["operations"])
    held = response[HELD]["data"]
    fresh = drawn(app, viewer(app))[GRAPH]["figure"]  # the same instant, drawn whole
    assert xs(figure) == xs(fresh)
    assert [t["y"] for t in figure["data"]] == [t["y"] for t in fresh["data"]]
    for old, new in zip(before, xs(figure), strict=True):
        assert new == sorted(set(new)) and len(new) == len(old)  # nothing kept twice
        assert new[:-1] == old[:-1] and new[-1] == held["reach"] * 1000 > old[-1]
    assert figure["layout"]["xaxis"]["autorangeoptions"]["include"][1] == held["reach"] * 1000
    assert len(proxy.to(INSTANT)) == 2


def test_a_failing_instant_query_leaves_the_range_drawn_with_a_note(app, proxy):
    fault = FaultServer()
    fault.body = b'{"status":"error","errorType":"internal","error":"head block is on fire"}'
    proxy.instant = f"{fault.url}/down-500"
    try:
        early_in_an_instant()
        response = drawn(app, viewer(app))
    finally:
        fault.stop()
    figure, held = response[GRAPH]["figure"], response[HELD]["data"]
    assert fault.count("down") == 1
    # The range as before: it ends at the window's end, and so does the axis.
    assert '{job=\\"clock\\"}' in json.dumps([t["name"] for t in figure["data"]])
    assert max(x[-1] for x in xs(figure)) == held["end"] * 1000 == held["reach"] * 1000
    notes = json.dumps(response[NOTICE]["children"])
    assert "latest point: Prometheus" in notes and "head block is on fire" in notes
    assert STATE["to"] == "now"


def test_the_panel_csv_ends_at_the_latest_point_as_the_chart_does(app, proxy):
    client = viewer(app)
    early_in_an_instant()
    held = drawn(app, client)[HELD]["data"]
    resp = dash_calls.call(client, app, "metrics-download.data", {
        "metrics-csv.n_clicks": 1, "metrics-range-state.data": STATE,
        "metrics-width.data": WIDTH, "metrics-query-store.data": ""},
        triggered=["metrics-csv.n_clicks"], match={"panel": "up"})
    text = next(iter(dash_calls.response_of(resp).values()))["data"]["content"]
    table = pd.read_csv(io.StringIO(text))
    stamps = pd.to_datetime(table["timestamp"], utc=True)
    clock = table[table["series"] == '{job="clock"}']
    assert stamps.max().timestamp() == held["reach"] > held["end"]
    # The clock's value is its time: the latest row is the latest point, after the window.
    assert clock["value"].iloc[-1] == held["reach"] and clock["value"].iloc[-2] == held["end"]
    assert len(proxy.to(INSTANT)) == 1  # the chart's instant answer, from the cache


def test_a_failing_instant_query_serves_the_last_good_latest_point_as_stale(app, proxy):
    client = viewer(app)
    early_in_an_instant()
    figure = drawn(app, client)[GRAPH]["figure"]
    good = max(x[-1] for x in xs(figure))
    fault = FaultServer()
    fault.body = b'{"status":"error","errorType":"internal","error":"head block is on fire"}'
    proxy.instant = f"{fault.url}/down-500"
    try:
        time.sleep(SCRAPE - time.time() % SCRAPE)  # the next instant: a new cache key
        early_in_an_instant()
        response = drawn(app, client)
    finally:
        fault.stop()
    # The cache's last good answer for this query, shown as such: its point where it was.
    figure, held = response[GRAPH]["figure"], response[HELD]["data"]
    assert max(x[-1] for x in xs(figure)) == good < held["reach"] * 1000
    notes = json.dumps(response[NOTICE]["children"])
    assert "latest point: stale since" in notes and "head block is on fire" in notes

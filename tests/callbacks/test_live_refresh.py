"""Live panels: every viewer of a panel shares one upstream call per step (and one for its
latest point per scrape interval), and a tick patches.

Viewer calls are posted to the real Dash endpoint, each viewer with its own session, from
many threads at once; the upstream is a recording proxy in front of a real Prometheus with a
known history, so the test sees exactly how many range queries reached it.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app import create_app
from tests import dash_calls
from tests.recording_upstream import RecordingUpstream

STATE = {"from": "now-7d", "to": "now", "preset": "now-7d", "back": []}
WIDTH = 100  # 7 d in 100 points: a 2 h step, so 50 viewers land inside one step
STEP = 7200
#: metrics.scrape_interval (its default): the latest point's instant moves this often
SCRAPE = 15
TICK = "metrics-range-interval.n_intervals"
PANEL = """
[[panels]]
title = "Up"
query = "sum by (instance) (http_connections_active)"
"""


@pytest.fixture
def proxy(history_prometheus):
    """A recording upstream forwarding every API call to the history Prometheus."""
    def forward(path):
        def answer(params):
            return requests.post(history_prometheus.url + path, data=params, timeout=10).content
        return answer
    paths = ["/api/v1/query_range", "/api/v1/query", "/api/v1/label/job/values",
             "/api/v1/label/instance/values", "/api/v1/label/__name__/values"]
    server = RecordingUpstream({p: forward(p) for p in paths})
    yield server
    server.stop()


@pytest.fixture
def app(write_config, proxy):
    return create_app(write_config(f"""
[prometheus]
url = "{proxy.url}"
cache_ttl = 0.5
[refresh]
metrics = 5
{PANEL}"""))


def viewer(app):
    client = app.server.test_client()
    client.get("/")  # a browser's page load: its own session
    return client


def render(app, client, held=None, triggered=TICK):
    values = {"metrics-range-state.data": STATE, "metrics-width.data": WIDTH,
              "metrics-query-store.data": "", TICK: 1, "metrics-held.data": held}
    resp = dash_calls.call(client, app, "metrics-graph.figure", values, triggered=[triggered],
                           match={"panel": "up"})
    return resp.get_data(as_text=True), dash_calls.response_of(resp)


def outside_a_step_edge(margin: float = 20.0, scrape_margin: float = 5.0) -> None:
    """Wait while a step boundary is less than ``margin`` s away, or the latest point's next
    instant less than ``scrape_margin`` s, so a burst stays in one window and one instant
    (and in the first scrape interval of a step, whose window needs no latest point)."""
    while not SCRAPE <= time.time() % STEP <= STEP - margin or (
            time.time() % SCRAPE) > SCRAPE - scrape_margin:
        time.sleep(0.5)


def test_fifty_viewers_of_a_live_panel_share_one_upstream_call(app, proxy):
    clients = [viewer(app) for _ in range(50)]
    outside_a_step_edge()
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda c: render(app, c, triggered="metrics-range-state.data"),
                                clients))
    assert len(proxy.to("/api/v1/query_range")) == 1  # concurrent misses coalesced
    assert all('"figure"' in text for text, _ in answers)
    # Their next ticks, past prometheus.cache_ttl (0.5 s) and within the step: no new call.
    time.sleep(0.6)
    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(lambda c: render(app, c), clients))
    assert len(proxy.to("/api/v1/query_range")) == 1
    # The latest point's instant query: one for all of them per instant (a busy machine may
    # see the instant move on once between the bursts).
    instants = [c["params"]["time"] for c in proxy.to("/api/v1/query")]
    assert 1 <= len(instants) <= 2 and len(set(instants)) == len(instants)


def test_a_tick_sends_a_patch_or_nothing_not_the_figure(app, proxy):
    client = viewer(app)
    outside_a_step_edge()
    first, response = render(app, client, triggered="metrics-range-state.data")
    held = response['{"panel":"up","type":"metrics-held"}']["data"]
    figure = response['{"panel":"up","type":"metrics-graph"}']["figure"]
    assert figure["data"] and held["traces"]
    text, response = render(app, client, held)
    # Same step: nothing changed, so the figure is not sent at all.
    assert '{"panel":"up","type":"metrics-graph"}' not in response
    assert len(text) < len(first) / 10
    # Another viewer's tick with a record from another window: a patch moving the x-axis.
    older = {**held, "start": held["start"] - STEP, "end": held["end"] - STEP}
    text, response = render(app, client, older)
    patch = response['{"panel":"up","type":"metrics-graph"}']["figure"]
    assert patch["__dash_patch_update"] and len(text) < len(first) / 5
    assert [o["location"] for o in patch["operations"]] == [
        ["layout", "xaxis", "autorangeoptions", "include"]]
    # The axis reaches the latest point past the window's end.
    assert held["end"] < held["reach"] <= time.time()
    assert json.dumps(patch["operations"][0]["params"]["value"]) == json.dumps(
        [held["start"] * 1000, held["reach"] * 1000])


def build(app, client, job=None):
    values = {"metrics-width.data": WIDTH, "metrics-range-state.data": STATE,
              "metrics-job.value": job}
    resp = dash_calls.call(client, app, "metrics-panels.children", values,
                           triggered=["metrics-width.data"])
    return dash_calls.response_of(resp)


def held_of(tree):
    """The panel's held store in a built grid (a Dash component tree as JSON)."""
    if isinstance(tree, dict):
        if tree.get("type") == "Store" and tree["props"]["id"]["type"] == "metrics-held":
            return tree["props"]["data"]
        return next((h for v in tree.values() if (h := held_of(v)) is not None), None)
    if isinstance(tree, list):
        return next((h for v in tree if (h := held_of(v)) is not None), None)
    return None


def test_panels_are_built_drawn_and_their_first_render_asks_nothing(app, proxy):
    client = viewer(app)
    outside_a_step_edge()
    grid = build(app, client)["metrics-panels"]["children"]
    text = json.dumps(grid)
    assert '"type": "scatter' in text and "loading" not in text  # mounted with its data
    # The panel's query once; the annotations' (deploys, alerts) once each, for every panel.
    queries = [c["params"]["query"] for c in proxy.to("/api/v1/query_range")]
    assert queries.count("sum by (instance) (http_connections_active)") == 1
    assert len(queries) == 3
    assert sum("_build_info" in q or "ALERTS" in q for q in queries) == 2
    held = held_of(grid)
    assert held["traces"] and held["built"]  # a live record: the next tick can patch
    # The render callback's initial call for that panel: the chart is already there.
    def first_render(job=None):
        return dash_calls.call(client, app, "metrics-graph.figure", {
            "metrics-range-state.data": STATE, "metrics-width.data": WIDTH,
            "metrics-query-store.data": "", "metrics-held.data": held, "metrics-job.value": job,
            "metrics-compare.value": "off", "metrics-annotate.value": ["deploys", "alerts"]},
            match={"panel": "up"})

    assert first_render().status_code == 204
    # Built for other inputs (the job changed meanwhile): the initial call draws.
    response = dash_calls.response_of(first_render(job="api"))
    assert '"figure"' in json.dumps(response)
    # A tick patches the built chart: the record is the live one.
    _, response = render(app, client, held)
    assert '{"panel":"up","type":"metrics-graph"}' not in response


def test_a_slow_prometheus_does_not_hold_the_grid(write_config):
    """A query slower than the first-chart wait: the panel mounts empty, to load as before."""
    release = threading.Event()

    def held_back(_params):
        release.wait(30)
        return b'{"status": "success", "data": {"resultType": "matrix", "result": []}}'

    upstream = RecordingUpstream({"/api/v1/query_range": held_back})
    try:
        app = create_app(write_config(f'[prometheus]\nurl = "{upstream.url}"\n{PANEL}'))
        grid = build(app, viewer(app))["metrics-panels"]["children"]
        assert "loading" in json.dumps(grid) and held_of(grid) is None
    finally:
        release.set()
        upstream.stop()

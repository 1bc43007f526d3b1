"""The Metrics charts in the browser's zone, through the real Dash endpoint and a real
Prometheus: the same chart moved by the zone's offset, annotations and the anomaly list on
its clock, a zoom read back as UTC, and a forged zone refused."""

from __future__ import annotations

import json

import pytest

from app import create_app
from query import chart
from query.range_state import iso_utc
from tests import dash_calls

PANEL = """
[[panels]]
title = "Connections"
query = "sum by (instance) (http_connections_active)"
"""
GRAPH, HELD = '{"panel":"connections","type":"metrics-graph"}', "metrics-held"
KOLKATA, SHIFT = "Asia/Kolkata", 5.5 * 3_600_000


@pytest.fixture
def app(write_config, history_prometheus):
    return create_app(write_config(f'[prometheus]\nurl = "{history_prometheus.url}"\n{PANEL}'))


def render(app, client, state, zone, compare="off"):
    values = {"metrics-range-state.data": state, "metrics-width.data": 400,
              "metrics-query-store.data": "", "metrics-compare.value": compare,
              "metrics-annotate.value": ["alerts"], "metrics-legend.value": "list",
              "metrics-range-zone-name.data": zone}
    return dash_calls.call(client, app, "metrics-graph.figure", values,
                           triggered=["metrics-range-zone-name.data"],
                           match={"panel": "connections"})


def xs(trace) -> list[float]:
    x = trace["x"]
    return chart.untyped(x).tolist() if isinstance(x, dict) else x


def test_a_chart_in_a_zone_is_the_utc_chart_moved_by_the_zones_offset(app, history_end):
    client = app.server.test_client()
    client.get("/")
    state = {"from": iso_utc(history_end - 3 * 3600), "to": iso_utc(history_end - 3600),
             "preset": "now-1h", "back": []}
    utc = dash_calls.response_of(render(app, client, state, None))[GRAPH]["figure"]
    local = dash_calls.response_of(render(app, client, state, KOLKATA))[GRAPH]["figure"]
    # The store as the page sends it: a Kolkata browser asking for UTC gets instants 5.5 h
    # earlier (plotly.js shows milliseconds on the browser's clock), for Kolkata them as is.
    store = {"zone": "UTC", "browser": KOLKATA}
    back = dash_calls.response_of(render(app, client, state, store))[GRAPH]["figure"]
    own = dash_calls.response_of(render(app, client, state, {**store, "zone": KOLKATA})
                                 )[GRAPH]["figure"]
    assert [xs(t) for t in own["data"]] == [xs(t) for t in utc["data"]]
    assert [xs(t) for t in back["data"]] == [[x - SHIFT for x in xs(t)] for t in utc["data"]]
    assert (back["layout"]["xaxis"]["title"]["text"],
            own["layout"]["xaxis"]["title"]["text"]) == ("UTC", KOLKATA)
    assert utc["data"] and len(local["data"]) == len(utc["data"])
    for mine, theirs in zip(local["data"], utc["data"], strict=True):
        assert xs(mine) == [x + SHIFT for x in xs(theirs)]
        assert mine["y"] == theirs["y"]
    include = [x + SHIFT for x in utc["layout"]["xaxis"]["autorangeoptions"]["include"]]
    assert local["layout"]["xaxis"]["autorangeoptions"]["include"] == include
    assert (utc["layout"]["xaxis"]["title"]["text"],
            local["layout"]["xaxis"]["title"]["text"]) == ("UTC", KOLKATA)


def test_the_zoom_of_a_chart_in_a_zone_is_a_utc_range(app):
    client = app.server.test_client()
    client.get("/")
    key = next(k for k, cb in app.callback_map.items() if "metrics-range-zoom.data" in k
               and any(d["property"] == "relayoutData" for d in cb["inputs"]))
    relayout = {"xaxis.range[0]": "2024-05-01 15:30:00", "xaxis.range[1]": "2024-05-01 16:00"}
    payload = dash_calls.body(app, key, {
        "metrics-graph.relayoutData": [({"panel": "connections"}, relayout)],
        "metrics-range-zone-name.data": KOLKATA}, triggered=["metrics-graph.relayoutData"])
    resp = client.post(dash_calls.ENDPOINT, data=json.dumps(payload),
                       content_type="application/json")
    zoom = dash_calls.response_of(resp)["metrics-range-zoom"]["data"]
    assert (zoom["from"], zoom["to"]) == ("2024-05-01T10:00:00Z", "2024-05-01T10:30:00Z")


@pytest.mark.parametrize("zone", [42, ["UTC"], "Europe/" + "x" * 80,
                                  {"zone": "UTC", "browser": 7}])
def test_a_forged_zone_is_an_http_400_naming_it(app, zone):
    client = app.server.test_client()
    client.get("/")
    state = {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}
    resp = render(app, client, state, zone)
    assert resp.status_code == 400 and b"time zone" in resp.data


def held_records(node):
    """Every held record (a dict with the ``built`` mark) inside a rendered component tree."""
    if isinstance(node, dict):
        if "built" in node:
            yield node
        for value in node.values():
            yield from held_records(value)
    elif isinstance(node, list):
        for value in node:
            yield from held_records(value)


def test_a_grid_built_in_the_zone_is_not_drawn_again_when_the_zone_arrives(app, history_end):
    client = app.server.test_client()
    client.get("/")
    state = {"from": iso_utc(history_end - 3 * 3600), "to": iso_utc(history_end - 3600),
             "preset": "now-1h", "back": []}
    resp = dash_calls.call(client, app, "metrics-panels.children", {
        "metrics-width.data": 400, "metrics-range-state.data": state,
        "metrics-range-zone-name.data": KOLKATA}, triggered=["metrics-width.data"])
    grid = dash_calls.response_of(resp)["metrics-panels"]["children"]
    assert KOLKATA in json.dumps(grid)  # the first chart is drawn in the zone
    held = next(held_records(grid))
    values = {"metrics-range-state.data": state, "metrics-width.data": 400,
              "metrics-query-store.data": "", "metrics-compare.value": "off",
              "metrics-annotate.value": ["deploys", "alerts"], "metrics-legend.value": "list",
              "metrics-held.data": held}
    for zone, drawn in ((KOLKATA, False), ("UTC", True)):
        resp = dash_calls.call(client, app, "metrics-graph.figure",
                               {**values, "metrics-range-zone-name.data": zone},
                               triggered=["metrics-range-zone-name.data"],
                               match={"panel": "connections"})
        assert (resp.status_code == 200) is drawn, resp.status_code

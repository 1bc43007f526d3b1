"""Heatmap panels and exemplars in headless Chromium, against a real Prometheus 2.42 scraping
the demo API (classic buckets with exemplars, and a native histogram)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pandas as pd
from selenium.common.exceptions import (
    MoveTargetOutOfBoundsException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.action_chains import ActionChains

from app import create_app
from layouts import heatmap as heat
from layouts import ids
from query import range_state as rp
from stack.poll import until

FIGURE_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullData) { return null; }
return gd._fullData.map((t) => ({name: t.name, type: t.type,
                                 rows: t.type === 'heatmap' ? (t.z || []).length : 0,
                                 points: (t.x || []).length}));
"""
PANELS = """
[metrics]
scrape_interval = 1
[[panels]]
title = "Latency heatmap"
query = 'sum by (le) (rate(http_request_duration_seconds_bucket[$__rate_interval]))'
unit = "s"
kind = "heatmap"
quantiles = true
exemplars = true
[[panels]]
title = "Native heatmap"
query = 'sum(rate(http_request_duration_seconds[$__rate_interval]))'
unit = "s"
kind = "heatmap"
[[panels]]
title = "Latency"
query = 'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))'
unit = "s"
exemplars = true
"""


def graph_id(panel: str) -> str:
    return json.dumps({"panel": panel, "type": ids.METRICS_GRAPH}, separators=(",", ":"))


def traces(dash_duo, panel: str) -> list[dict]:
    return dash_duo.driver.execute_script(FIGURE_JS, graph_id(panel)) or []


def start(dash_duo, write_config, prom, loki_url: str = ""):
    loki = f'[loki]\nurl = "{loki_url}"\n' if loki_url else ""
    config = write_config(f'[prometheus]\nurl = "{prom.url}"\n{loki}{PANELS}')
    dash_duo.start_server(create_app(config))
    dash_duo.driver.get(dash_duo.server_url + "/?" + urlencode(
        {"tab": "metrics", "metrics.from": "now-15m"}))


def test_heatmaps_draw_buckets_quantiles_and_exemplars(dash_duo, write_config,
                                                       histogram_prometheus, screens):
    start(dash_duo, write_config, histogram_prometheus)
    until(lambda: {t["name"] for t in traces(dash_duo, "latency-heatmap")}
          >= {"buckets", "p50", "p95", "p99", heat.EXEMPLAR_NAME}, 30,
          message="classic heatmap with quantiles and exemplars")
    cells = next(t for t in traces(dash_duo, "latency-heatmap") if t["type"] == "heatmap")
    assert cells["rows"] == 11  # the API's ten le buckets and +Inf
    until(lambda: any(t["type"] == "heatmap" and t["rows"] > 3
                      for t in traces(dash_duo, "native-heatmap")), 30,
          message="native heatmap with its exponential buckets")
    dash_duo.driver.save_screenshot(str(screens / "metrics_heatmaps.png"))
    assert dash_duo.get_logs() == []


def click_an_exemplar(dash_duo, panel: str, tries: list) -> bool:
    """Click an exemplar point, the highest first (the slowest request: clear of the line,
    which "closest" hovering would pick instead), another each try; True once the URL
    names the Logs tab."""
    if "tab=logs" in dash_duo.driver.current_url:
        return True
    graph = f"[id='{graph_id(panel)}']"
    points = dash_duo.driver.find_elements(
        "css selector", f"{graph} .scatterlayer .trace:last-of-type .points path")
    if not points:
        return False
    # plotly hears the pointer on its drag layer, above the points: go there, over the point.
    area = dash_duo.driver.find_element("css selector", f"{graph} .nsewdrag")
    a = area.rect
    # Only points inside the plot area: one drawn at its very edge may lie outside it.
    tops = sorted((r for r in (pt.rect for pt in points) if _inside(r, a)),
                  key=lambda r: r["y"])
    if not tops:
        return False
    p = tops[len(tries) % len(tops)]
    tries.append(p)
    try:
        ActionChains(dash_duo.driver).move_to_element(area).move_by_offset(
            int(p["x"] + p["width"] / 2 - a["x"] - a["width"] / 2),
            int(p["y"] + p["height"] / 2 - a["y"] - a["height"] / 2)).pause(0.3).click().perform()
    except (MoveTargetOutOfBoundsException, StaleElementReferenceException):
        return False  # the chart was redrawn under the pointer: the next try aims again
    time.sleep(0.5)
    return "tab=logs" in dash_duo.driver.current_url


def _inside(point: dict, area: dict) -> bool:
    x, y = point["x"] + point["width"] / 2, point["y"] + point["height"] / 2
    return (area["x"] < x < area["x"] + area["width"]
            and area["y"] < y < area["y"] + area["height"])


def api_log_entries(path) -> list[tuple]:
    """The demo API's JSON log lines as Loki entries of one stream."""
    return [(pd.Timestamp(json.loads(line)["timestamp"]).value, {"job": "api"}, line)
            for line in path.read_text().splitlines()]


def test_clicking_an_exemplar_opens_logs_on_its_request(dash_duo, write_config,
                                                        histogram_prometheus, make_loki_double):
    loki = make_loki_double(api_log_entries(histogram_prometheus.api_log))
    start(dash_duo, write_config, histogram_prometheus, loki.url)
    until(lambda: any(t["name"] == heat.EXEMPLAR_NAME and t["points"]
                      for t in traces(dash_duo, "latency")), 30, message="exemplar points")
    # A live refresh may redraw the chart under the pointer: click again until Logs opens.
    tries: list = []
    until(lambda: click_an_exemplar(dash_duo, "latency", tries), 30, every=1,
          message="Logs opened")
    box = dash_duo.find_element(f"#{ids.LOGS_QUERY}")
    until(lambda: '|= "' in (box.get_attribute("value") or ""), 10, message="trace query")
    request_id = box.get_attribute("value").split('|= "')[1].rstrip('"')
    logged = {json.loads(x).get("request_id")
              for x in histogram_prometheus.api_log.read_text().splitlines()}
    assert request_id in logged
    params = rp.url_params(dash_duo.driver.current_url.split("?", 1)[1])
    assert "logs.q" not in params and params["logs.from"] < params["logs.to"]
    assert dash_duo.find_element(f"#{ids.TABS} .tab--selected").text == "Logs"
    # Loki (here its stand-in, holding the API's log) answers with that request's lines; the
    # request may be newer than the log it was loaded with: reload it and run again.
    loki.load(api_log_entries(histogram_prometheus.api_log))
    rows = "#logs-grid .ag-center-cols-container .ag-row"
    expected = sum(request_id in line
                   for line in histogram_prometheus.api_log.read_text().splitlines())

    def run_shows_the_request() -> bool:
        if len(dash_duo.find_elements(rows)) == expected:
            return True
        dash_duo.find_element(f"#{ids.LOGS_RUN}").click()
        time.sleep(1)
        return len(dash_duo.find_elements(rows)) == expected

    assert expected >= 1
    until(run_shows_the_request, 20, every=0.5,
          message=f"the {expected} log lines of request {request_id}")
    assert dash_duo.get_logs() == []

"""The Metrics tab in headless Chromium, against a real Prometheus with a known history.

Ranges, drag-to-zoom, Back, double-click reset, live refresh and Pause, the share URL, the
ad-hoc query (its upstream error, autocomplete), CSV download, per-panel errors, and the Status
tab's Prometheus section against real Prometheus and Alertmanager with a firing alert.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from app import create_app
from layouts import ids
from query.range_state import iso_utc
from stack.poll import until
from tests.metrics_stack import DAY, INSTANCES, MINUTE, down, instance_series

LABEL = "#" + ids.range_id("metrics", ids.RANGE_LABEL)
BACK = "#" + ids.range_id("metrics", ids.RANGE_BACK)
LIVE = "#" + ids.range_id("metrics", ids.RANGE_LIVE)
PRESETS = "#" + ids.range_id("metrics", ids.RANGE_PRESETS)
LOOKBACK = 300  # Prometheus 2.x: an instant value is the latest sample at most 5 min old

FIGURE_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullData || !gd.layout.xaxis) { return null; }
const finite = (a) => Array.from(a || []).filter((v) => Number.isFinite(v));
return {
  include: (gd.layout.xaxis.autorangeoptions || {}).include || null,
  traces: gd._fullData.map((t) => ({name: t.name, type: t.type, x: finite(t.x)})),
};
"""


def graph_id(panel: str) -> str:
    return json.dumps({"panel": panel, "type": ids.METRICS_GRAPH}, separators=(",", ":"))


def figure(dash_duo, panel: str) -> dict | None:
    return dash_duo.driver.execute_script(FIGURE_JS, graph_id(panel))


def span_of(dash_duo, panel: str) -> float | None:
    """Seconds the panel's x-axis window covers, once it has traces."""
    fig = figure(dash_duo, panel)
    if not fig or not fig["traces"] or not fig["include"]:
        return None
    lo, hi = fig["include"]
    return (hi - lo) / 1000


@pytest.fixture
def metrics_app(dash_duo, write_config, history_prometheus, alertmanager_server):
    """Start the app on the history Prometheus; returns a function opening a URL query."""

    def start(extra: str = "", **params):
        config = write_config(f"""
[prometheus]
url = "{history_prometheus.url}"
[alertmanager]
url = "{alertmanager_server.url}"
[metrics]
scrape_interval = 60
{extra}""")
        dash_duo.start_server(create_app(config))
        return open_url(dash_duo, **params)

    return start


def open_url(dash_duo, **params):
    dash_duo.driver.get(dash_duo.server_url + "/?" + urlencode({"tab": "metrics", **params}))
    dash_duo.wait_for_element(LABEL)


def preset(dash_duo, label: str):
    button = next(b for b in dash_duo.find_elements(f"{PRESETS} label") if b.text == label)
    button.click()


def drag(dash_duo, panel: str, start: float, end: float):
    """Drag across a chart's plot area from ``start`` to ``end`` (fractions of its width)."""
    area = dash_duo.driver.find_element(
        "css selector", f"[id='{graph_id(panel)}'] .nsewdrag")
    width = area.rect["width"]
    chain = ActionChains(dash_duo.driver).move_to_element(area)
    chain.move_by_offset(int(width * (start - 0.5)), 0).click_and_hold()
    for _ in range(5):
        chain.move_by_offset(int(width * (end - start) / 5), 0)
    chain.release().perform()


def cells(dash_duo, rows: str) -> list[list[str]]:
    """The cell texts of the table rows ``rows`` selects, read at once (the Status tab
    re-renders its tables every few seconds)."""
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map("
        "(r) => Array.from(r.querySelectorAll('td')).map((c) => c.innerText.trim()));", rows)


ALERT_ITEMS_JS = """
return Array.from(document.querySelectorAll(arguments[0] + ' .alert-item')).map((item) => ({
  name: item.closest('.alert-group').dataset.alertname,
  state: item.querySelector('.alert-state').innerText.trim(),
  sources: Array.from(item.querySelectorAll('.alert-source')).map((s) => s.innerText.trim()),
  text: item.innerText}));
"""


def alert_items(dash_duo, section: str) -> list[dict]:
    """Each alert item of the list: its group's alertname, state, sources and text, read at
    once (the list is drawn again on every refresh)."""
    return dash_duo.driver.execute_script(ALERT_ITEMS_JS, section)


PLOTS_FIT_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter((gd) => gd.offsetParent !== null)  // hidden ones (the ad-hoc box) keep their size
  .every((gd) => gd._fullLayout
         && Math.abs(gd._fullLayout.width - gd.getBoundingClientRect().width) < 1);
"""


def shot(dash_duo, screens, name: str, height: int = 1000):
    """Save a screenshot for the notes; a taller window shows more panels (same width)."""
    dash_duo.driver.set_window_size(1400, height)
    # A scrollbar coming or going changes the width: wait for plotly to redraw to it.
    until(lambda: dash_duo.driver.execute_script(PLOTS_FIT_JS), 5, message="plots resized")
    dash_duo.driver.save_screenshot(str(screens / f"{name}.png"))


def test_picking_a_preset_redraws_every_panel_over_that_range(metrics_app, dash_duo, screens):
    metrics_app()
    dash_duo.wait_for_text_to_equal(LABEL, "Last 1 hour")
    until(lambda: span_of(dash_duo, "request-rate"), message="no request rate chart")
    assert 3000 < span_of(dash_duo, "request-rate") <= 3600
    # The node exporter has been scraped for seconds only; live refresh brings its samples in.
    until(lambda: span_of(dash_duo, "node-memory"), timeout=20, message="no node data")
    shot(dash_duo, screens, "metrics_1h", height=1900)

    preset(dash_duo, "7d")
    dash_duo.wait_for_text_to_equal(LABEL, "Last 7 days")
    for panel in ("request-rate", "error-rate", "latency", "cache-hit-ratio"):
        until(lambda p=panel: (span_of(dash_duo, p) or 0) > 6.9 * DAY, message=panel)
    assert "metrics.from=now-7d" in dash_duo.driver.current_url
    latency = figure(dash_duo, "latency")
    assert sorted(t["name"] for t in latency["traces"]) == ["api p50", "api p95", "api p99"]
    shot(dash_duo, screens, "metrics_7d", height=1900)
    assert dash_duo.get_logs() == []


def test_drag_zoom_sets_all_panels_back_undoes_it_and_double_click_resets(metrics_app, dash_duo):
    metrics_app(**{"metrics.from": "now-7d"})
    dash_duo.wait_for_text_to_equal(LABEL, "Last 7 days")
    until(lambda: span_of(dash_duo, "request-rate"), message="no chart to zoom")
    until(lambda: span_of(dash_duo, "active-connections"))

    drag(dash_duo, "request-rate", 0.3, 0.6)
    until(lambda: "UTC" in dash_duo.find_element(LABEL).text, message="zoom did not apply")
    zoomed = 0.3 * 7 * DAY
    for panel in ("request-rate", "active-connections", "latency"):
        # Every panel redraws whole (an absolute range), annotations included: on a busy
        # 2-core machine that can take more than the default 15 s.
        until(lambda p=panel: abs((span_of(dash_duo, p) or 0) - zoomed) < 0.1 * zoomed,
              timeout=45, message=f"{panel} did not follow the zoom")
    assert "metrics.from=20" in dash_duo.driver.current_url  # an absolute ISO time
    assert dash_duo.find_element(LIVE).text == "Live off"  # an absolute range does not move

    dash_duo.find_element(BACK).click()
    dash_duo.wait_for_text_to_equal(LABEL, "Last 7 days")
    until(lambda: (span_of(dash_duo, "request-rate") or 0) > 6.9 * DAY)
    assert dash_duo.find_element(LIVE).text == "Pause"
    assert dash_duo.find_element(BACK).get_attribute("disabled")

    drag(dash_duo, "active-connections", 0.5, 0.9)
    until(lambda: "UTC" in dash_duo.find_element(LABEL).text)
    until(lambda: (span_of(dash_duo, "active-connections") or 1e9) < 3 * DAY)
    area = dash_duo.driver.find_element(
        "css selector", f"[id='{graph_id('active-connections')}'] .nsewdrag")
    ActionChains(dash_duo.driver).double_click(area).perform()
    dash_duo.wait_for_text_to_equal(LABEL, "Last 7 days")
    assert dash_duo.get_logs() == []


def test_a_shared_url_restores_range_query_and_variables(metrics_app, dash_duo, history_end):
    start, end = history_end - 3 * 3600, history_end - 3600
    query = "sum by (instance) (http_connections_active)"
    params = {"metrics.from": iso_utc(start), "metrics.to": iso_utc(end), "metrics.q": query,
              "metrics.instance": INSTANCES[0]}
    metrics_app(**params)
    for _ in range(2):  # as opened from the link, then after a reload
        dash_duo.wait_for_text_to_equal(
            LABEL, f"{iso_utc(start)[:10]} {iso_utc(start)[11:19]} → "
                   f"{iso_utc(end)[:10]} {iso_utc(end)[11:19]} UTC (2h)")
        dash_duo.wait_for_text_to_equal(f"#{ids.METRICS_INSTANCE}", INSTANCES[0])
        assert dash_duo.find_element(f"#{ids.METRICS_QUERY}").get_attribute("value") == query
        adhoc = until(lambda: (f := figure(dash_duo, "adhoc")) and f["traces"] and f)
        assert sorted(t["name"] for t in adhoc["traces"]) == [
            f'{{instance="{i}"}}' for i in INSTANCES]
        xs = [x / 1000 for t in adhoc["traces"] for x in t["x"]]
        assert start <= min(xs) and max(xs) <= end
        # The presets follow the instance variable: only api-1 in active connections.
        conns = until(lambda: (f := figure(dash_duo, "active-connections")) and f["traces"])
        assert [t["name"] for t in conns] == [INSTANCES[0]]
        dash_duo.driver.refresh()
    assert dash_duo.get_logs() == []


def test_a_bad_query_shows_prometheus_own_words_under_the_box(metrics_app, dash_duo):
    metrics_app()
    box = dash_duo.find_element(f"#{ids.METRICS_QUERY}")
    box.send_keys("http_conn")
    until(lambda: [o.get_attribute("value") for o in
                   dash_duo.find_elements(f"#{ids.METRICS_QUERY_SUGGEST} option")] == [
                       "http_connections_active"], message="no autocomplete")
    box.clear()
    box.send_keys("sum(rate(up[5m]", Keys.ENTER)
    notice = json.dumps({"panel": "adhoc", "type": ids.METRICS_NOTICE}, separators=(",", ":"))
    text = until(lambda: dash_duo.driver.find_element(
        "css selector", f"[id='{notice}']").text, message="no error shown")
    assert text.startswith("Prometheus rejected the query: bad_data:")
    assert "parse error" in text and "unclosed left parenthesis" in text
    # The other panels carry on.
    until(lambda: span_of(dash_duo, "request-rate"))
    assert dash_duo.get_logs() == []


def test_download_csv_holds_the_panels_frame(metrics_app, dash_duo, history_end):
    # 20 minutes around api-2's ten-minute outage, so the CSV has a real gap.
    start, end = history_end - 50 * MINUTE, history_end - 20 * MINUTE
    metrics_app(**{"metrics.from": iso_utc(start), "metrics.to": iso_utc(end),
                   "metrics.q": "http_connections_active"})
    until(lambda: (f := figure(dash_duo, "adhoc")) and f["traces"])
    button = json.dumps({"panel": "adhoc", "type": ids.METRICS_CSV}, separators=(",", ":"))
    dash_duo.driver.find_element("css selector", f"[id='{button}']").click()
    folder = Path(dash_duo.download_path)
    found = until(lambda: [p for p in folder.glob("adhoc-*.csv")], message="no CSV downloaded")
    with found[0].open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["timestamp", "series", "__name__", "instance", "job", "value"]
    assert {r["instance"] for r in rows} == set(INSTANCES)
    for row in rows:
        t = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()
        assert start <= t <= end
        assert float(row["value"]) == expected_connections(row["instance"], t, history_end)
    gap = [r for r in rows if r["instance"] == INSTANCES[1]]
    assert len(gap) < len(rows) - len(gap)  # api-2 is missing for part of the window
    assert dash_duo.get_logs() == []


def expected_connections(instance: str, t: float, end: int) -> float | None:
    """http_connections_active at ``t`` as Prometheus answers it: the latest sample ≤ 5 min old."""
    last = int(t // MINUTE * MINUTE)
    for s in range(last, int(t) - LOOKBACK - 1, -MINUTE):
        if not down(instance, s, end):
            series = instance_series(instance, np.array([s]), end)
            return next(x.values[0] for x in series if x.family == "http_connections_active")
    return None


def test_live_refresh_moves_on_pauses_and_stops_for_an_absolute_range(metrics_app, dash_duo):
    metrics_app('[refresh]\nmetrics = 1\n', **{"metrics.from": "now-5m", "metrics.q": "up"})

    def newest():
        fig = figure(dash_duo, "adhoc")
        return max((x for t in (fig or {}).get("traces", []) for x in t["x"]), default=None)

    first = until(newest, message="no live data")
    until(lambda: newest() > first, timeout=10, message="live refresh did not move")
    dash_duo.find_element(LIVE).click()
    dash_duo.wait_for_text_to_equal(LIVE, "Resume")
    # A refresh sent before the pause may still land: wait until no callback is in flight.
    until(lambda: dash_duo.redux_state_rqs == [], 5, message="callbacks settled")
    paused = newest()
    time.sleep(3)  # three refresh intervals in which nothing may move
    assert newest() == paused
    dash_duo.find_element(LIVE).click()
    dash_duo.wait_for_text_to_equal(LIVE, "Pause")
    until(lambda: newest() > paused, timeout=10, message="Resume did not refresh")

    # A typed absolute range (24-hour UTC text, Enter applies it) does not move: live is off.
    frm = dash_duo.find_element("#" + ids.range_id("metrics", ids.RANGE_FROM))
    assert frm.get_attribute("value") == "now-5m"
    start = iso_utc(time.time() - 600).replace("T", " ").removesuffix("Z")
    dash_duo.clear_input(frm)
    frm.send_keys(start)
    to = dash_duo.find_element("#" + ids.range_id("metrics", ids.RANGE_TO))
    dash_duo.clear_input(to)
    to.send_keys(iso_utc(time.time()).replace("T", " ").removesuffix("Z") + Keys.ENTER)
    until(lambda: "UTC" in dash_duo.find_element(LABEL).text)
    assert dash_duo.find_element(LABEL).text.startswith(start)
    assert dash_duo.find_element(LIVE).text == "Live off"
    assert dash_duo.find_element(LIVE).get_attribute("disabled")
    assert dash_duo.get_logs() == []


def test_one_broken_panel_does_not_blank_the_others(metrics_app, dash_duo):
    metrics_app("""
[[panels]]
title = "Scrapes up"
query = "up"
legend = "{{job}}"
group = "Mine"

[[panels]]
title = "Broken"
query = "rate(up[5m]"
group = "Mine"
""")
    until(lambda: (f := figure(dash_duo, "scrapes-up")) and f["traces"])
    assert sorted(t["name"] for t in figure(dash_duo, "scrapes-up")["traces"]) == [
        "node", "prometheus"]
    notice = json.dumps({"panel": "broken", "type": ids.METRICS_NOTICE}, separators=(",", ":"))
    text = until(lambda: dash_duo.driver.find_element("css selector", f"[id='{notice}']").text)
    assert "Prometheus rejected the query: bad_data:" in text
    # Configured panels replace the seeds.
    assert figure(dash_duo, "request-rate") is None
    assert dash_duo.get_logs() == []


PANEL_WIDTH_JS = """
const done = arguments[arguments.length - 1];
window.dash_clientside.stackscope_metrics.panelWidth("metrics", null, null, arguments[0])
  .then(done);
"""


def panel_width(dash_duo, box: str):
    """What assets/metrics.js measures for the element ``box``, as the width store gets it."""
    dash_duo.driver.set_script_timeout(10)
    return dash_duo.driver.execute_async_script(PANEL_WIDTH_JS, box)


def test_the_width_is_measured_on_the_box_named_else_a_fallback_still_loads_panels(
        metrics_app, dash_duo):
    metrics_app()
    until(lambda: span_of(dash_duo, "request-rate"), message="no panels")
    assert panel_width(dash_duo, ids.METRICS_PANELS) >= 100
    # No such box: after ~2 s a width of 0 (the server then uses max_data_points), not nothing.
    assert panel_width(dash_duo, "no-such-box") == 0
    assert dash_duo.get_logs() == []


def test_status_tab_shows_targets_and_alerts_from_prometheus_and_alertmanager(
        metrics_app, dash_duo, screens):
    metrics_app()
    dash_duo.find_elements(".tab")[0].click()
    section = f"#{ids.STATUS_PROM_SECTION}"
    targets = until(lambda: len(t := cells(dash_duo, f"{section} .prom-target")) == 2 and t)
    assert sorted((r[0], r[2]) for r in targets) == [("node", "up"), ("prometheus", "up")]

    def alerts():
        # The Alertmanager is shared by the session: other tests post alerts of their own.
        ours = ("ApiErrorBudgetBurn", "DiskWillFillIn4h")
        return sorted((a for a in alert_items(dash_duo, section) if a["name"].startswith(ours)),
                      key=lambda a: a["name"])

    # Alertmanager has the firing alert once Prometheus has sent it (a few seconds): then the
    # alert from both sources is one item tagged with both.
    rows = until(lambda: len(a := alerts()) == 2 and "alertmanager" in a[0]["sources"] and a,
                 timeout=30, message="Alertmanager never showed the firing alert")
    firing, pending = rows
    assert (firing["name"], firing["state"]) == ("ApiErrorBudgetBurn", "firing")
    assert firing["sources"] == ["prometheus", "alertmanager"]
    assert "critical" in firing["text"] and "service=api" in firing["text"]
    assert "api 5xx ratio above 1% for 5 minutes" in firing["text"]
    assert (pending["name"], pending["state"], pending["sources"]) == (
        "DiskWillFillIn4h", "pending", ["prometheus"])
    shot(dash_duo, screens, "status_prometheus")
    assert dash_duo.get_logs() == []


def test_an_unreachable_alertmanager_does_not_hide_prometheus_alerts(
        dash_duo, write_config, history_prometheus, closed_port):
    config = write_config(f"""
[prometheus]
url = "{history_prometheus.url}"
[alertmanager]
url = "http://127.0.0.1:{closed_port}"
""")
    dash_duo.start_server(create_app(config))
    section = f"#{ids.STATUS_PROM_SECTION}"
    text = until(lambda: "Alertmanager unreachable" in (
        t := dash_duo.find_element(section).text) and t)
    assert "connection refused" in text
    assert len(dash_duo.find_elements(f"{section} .alert-item")) == 2
    assert dash_duo.get_logs() == []

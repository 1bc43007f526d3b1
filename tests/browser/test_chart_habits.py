"""Grafana users' chart habits in headless Chromium, on the history Prometheus: several
instances chosen at once (from a shared link), a panel's thresholds and fixed y axis, the
legend as a table, and the crosshair that follows the mouse on every chart."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from layouts import ids
from query.range_state import iso_utc
from stack.poll import until
from tests.browser.test_metrics import graph_id, metrics_app  # noqa: F401  (the fixture)
from tests.metrics_stack import INSTANCES

PANELS = """
[[panels]]
title = "Connections"
query = 'sum by (instance) (http_connections_active{instance=~"$instance"})'
legend = "{{instance}}"
thresholds = [5, {value = 40, color = "orange"}]
y_max = 100
[[panels]]
title = "Requests"
query = 'sum by (instance) (rate(http_requests_total{instance=~"$instance"}[5m]))'
legend = "{{instance}}"
"""

STATE_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullData || !gd._fullData.length) { return null; }
return {names: gd._fullData.map((t) => t.name), showlegend: gd._fullLayout.showlegend,
        shapes: (gd.layout.shapes || []).map((s) => [s.y0, s.line.color]),
        range: gd.layout.yaxis.range || null,
        hovered: (gd._hoverdata || []).map((p) => p.x)};
"""
REQUESTS_JS = ("return performance.getEntriesByType('resource')"
               ".filter((e) => e.name.includes('_dash-update-component')).length;")


def chart(dash_duo, slug: str):
    return dash_duo.driver.execute_script(STATE_JS, graph_id(slug))


def test_two_instances_thresholds_legend_table_and_crosshair(
        metrics_app, dash_duo, history_end):  # noqa: F811
    # The link names both instances with the key repeated (one value per key is the old form).
    # A fixed range: no live refresh, so every request counted below is the page's own.
    metrics_app(PANELS, **{"metrics.from": iso_utc(history_end - 3 * 3600),
                           "metrics.to": iso_utc(history_end - 3600)})
    dash_duo.driver.get(dash_duo.driver.current_url + "".join(
        f"&metrics.instance={i}" for i in INSTANCES))
    conns = until(lambda: (c := chart(dash_duo, "connections")) and len(c["names"]) == 2 and c,
                  message="both instances not drawn")
    assert sorted(conns["names"]) == sorted(INSTANCES)
    assert conns["shapes"] == [[5, "#dc3545"], [40, "orange"]] and conns["range"][1] == 100
    assert conns["showlegend"] is True

    # Legend: table lists each series' min / max / mean / last under every chart.
    dash_duo.find_element(f"#{ids.METRICS_LEGEND} input[value='table']").click()
    rows = until(lambda: (r := dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.metrics-legend-table tbody tr'))"
        ".map((r) => r.innerText);")) and len(r) == 4 and r, message="no legend table")
    assert sum(INSTANCES[0] in r for r in rows) == 2
    until(lambda: chart(dash_duo, "connections")["showlegend"] is False)

    # Hover one chart: the other shows the same time, and nothing is asked of the server.
    until(lambda: chart(dash_duo, "requests"))
    asked = dash_duo.driver.execute_script(REQUESTS_JS)
    area = dash_duo.driver.find_element("css selector",
                                        f"[id='{graph_id('connections')}'] .nsewdrag")
    ActionChains(dash_duo.driver).move_to_element(area).move_by_offset(5, 0).perform()
    hovered = until(lambda: chart(dash_duo, "requests")["hovered"], message="no crosshair")
    own = chart(dash_duo, "connections")["hovered"]
    assert own and hovered[0] == own[0]
    ActionChains(dash_duo.driver).move_by_offset(0, -200).perform()  # off the chart
    until(lambda: not chart(dash_duo, "requests")["hovered"], message="crosshair stayed")
    assert dash_duo.driver.execute_script(REQUESTS_JS) == asked

    # A query run is remembered in the browser and offered back, with PromQL's own words.
    box = dash_duo.find_element(f"#{ids.METRICS_QUERY}")
    box.send_keys("sum(up)", Keys.ENTER)
    box.send_keys(Keys.BACKSPACE * 7, "su")
    until(lambda: {"sum(up)", "sum("} <= {o.get_attribute("value") for o in dash_duo.find_elements(
        f"#{ids.METRICS_QUERY_SUGGEST} option")}, message="no recent query offered")
    stored = dash_duo.driver.execute_script(
        f"return JSON.parse(localStorage.getItem('{ids.METRICS_QUERY_RECENT}'));")
    assert stored == ["sum(up)"]
    assert dash_duo.get_logs() == []

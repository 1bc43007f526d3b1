"""Browser time in headless Chromium told it is in Newfoundland (UTC-03:30 in December): the
charts, the picker and a zoom follow the zone the browser reports, and the choice outlives a
reload."""

from __future__ import annotations

from datetime import datetime, timedelta

from selenium.webdriver.support.select import Select

from layouts import ids
from query.range_state import iso_utc, url_params
from stack.poll import until
from tests.browser.test_metrics import graph_id, metrics_app  # noqa: F401  (the fixture)

#: a zone Chromium's ICU names as IANA does (it reports Asia/Kolkata as "Asia/Calcutta")
ZONE, OFFSET = "America/St_Johns", timedelta(hours=-3, minutes=-30)
PANELS = """
[[panels]]
title = "Connections"
query = 'sum by (instance) (http_connections_active)'
"""
ZONE_SELECT = f"#{ids.range_id('metrics', ids.RANGE_ZONE)}"
LABEL = f"#{ids.range_id('metrics', ids.RANGE_LABEL)}"
AXIS_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullLayout || !gd._fullData || !gd._fullData.length) { return null; }
return {title: gd._fullLayout.xaxis.title.text, range: gd._fullLayout.xaxis.range};
"""
ZOOM_JS = """
const gd = document.getElementById(arguments[0]).querySelector('.js-plotly-plot');
Plotly.relayout(gd, {'xaxis.range[0]': arguments[1], 'xaxis.range[1]': arguments[2]});
"""


def axis(dash_duo):
    return dash_duo.driver.execute_script(AXIS_JS, graph_id("connections"))


def wall(text: str) -> datetime:
    return datetime.fromisoformat(text[:19])


def test_browser_time_moves_charts_picker_and_zoom_and_is_kept(
        metrics_app, dash_duo, history_end):  # noqa: F811
    dash_duo.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ZONE})
    start, end = history_end - 3 * 3600, history_end - 3600
    metrics_app(PANELS, **{"metrics.from": iso_utc(start), "metrics.to": iso_utc(end)})
    utc = until(lambda: (a := axis(dash_duo)) and a["title"] == "UTC" and a,
                message="no chart in UTC")
    assert dash_duo.find_element(LABEL).text.endswith(" UTC (2h)")
    # plotly.js shows milliseconds on the browser's clock: UTC must still read as UTC here
    # (the axis starts within a step of the range's start, not 3.5 h before it).
    utc_start = datetime.strptime(iso_utc(start), "%Y-%m-%dT%H:%M:%SZ")
    assert abs(wall(utc["range"][0]) - utc_start) < timedelta(minutes=20), utc["range"]

    select = Select(dash_duo.find_element(ZONE_SELECT))
    until(lambda: any(o.text == f"Browser: {ZONE}" for o in select.options),
          message="the browser's zone is not offered")
    select.select_by_value("browser")
    local = until(lambda: (a := axis(dash_duo)) and a["title"] == ZONE and a,
                  message="the chart did not move to the browser's zone")
    assert wall(local["range"][0]) - wall(utc["range"][0]) == OFFSET
    # The picker's label gives the range on the zone's clock too.
    label = until(lambda: (t := dash_duo.find_element(LABEL).text) and ZONE in t and t)
    shown_start = datetime.strptime(label[:19], "%Y-%m-%d %H:%M:%S")
    assert shown_start - utc_start == OFFSET

    # A zoom drawn on the zone's clock is a UTC range in the URL.
    lo = (utc_start + OFFSET + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    hi = (utc_start + OFFSET + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    dash_duo.driver.execute_script(ZOOM_JS, graph_id("connections"), lo, hi)
    params = until(lambda: (p := url_params(dash_duo.driver.execute_script(
        "return window.location.search;"))) and p.get("metrics.to") != iso_utc(end) and p,
        message="the zoom did not reach the URL")
    assert params["metrics.from"] == iso_utc(start + 1800)
    assert params["metrics.to"] == iso_utc(start + 3600)

    # The choice is kept in the browser: a reload draws in the zone's time again.
    dash_duo.driver.refresh()
    until(lambda: (a := axis(dash_duo)) and a["title"] == ZONE, message="choice lost")
    assert Select(dash_duo.find_element(ZONE_SELECT)).first_selected_option.get_attribute(
        "value") == "browser"

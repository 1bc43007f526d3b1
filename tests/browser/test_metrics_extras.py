"""The Metrics charts' extras on the demo's own week (``stack.history`` in a real Prometheus):
deploy lines and the incident's alert region, the expected band whose anomaly list finds the
incident, time shift and Inspect."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.support.select import Select

from app import create_app
from layouts import ids
from stack import history, services
from stack.poll import until
from tests.browser.test_metrics import LABEL, graph_id, open_url, shot

DAY = 86_400
EXTRAS_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullData || !gd.layout.xaxis) { return null; }
return {
  names: gd._fullData.map((t) => t.name),
  shapes: (gd.layout.shapes || []).map((s) => ({type: s.type, x0: s.x0, x1: s.x1, name: s.name})),
  labels: (gd.layout.annotations || []).map((a) => a.text),
};
"""


@pytest.fixture(scope="module")
def demo_week(tmp_path_factory):
    """A real Prometheus holding the demo's week of history, ending now."""
    end = time.time()
    text = history.generate(end, history.Targets("127.0.0.1:18000", "127.0.0.1:19100"))
    config = services.scrape_config({"prometheus": [services.SELF_ADDRESS]}, interval="15s")
    with services.start_prometheus(tmp_path_factory.mktemp("demo-week"), config_yaml=config,
                                   history=[text], max_block_duration="172h",
                                   retention="30d") as proc:
        yield proc, history.story(end)


@pytest.fixture
def week_app(dash_duo, write_config, demo_week):
    proc, story = demo_week
    dash_duo.start_server(create_app(write_config(f'[prometheus]\nurl = "{proc.url}"\n')))
    open_url(dash_duo, **{"metrics.from": "now-7d"})
    return story


def extras(dash_duo, panel: str) -> dict | None:
    return dash_duo.driver.execute_script(EXTRAS_JS, graph_id(panel))


def compare(dash_duo, mode: str):
    Select(dash_duo.find_element("#" + ids.METRICS_COMPARE)).select_by_value(mode)


def test_the_week_shows_its_deploys_incident_and_anomaly(week_app, dash_duo, screens):
    story = week_app
    panel = "error-rate"
    drawn = until(lambda: (e := extras(dash_duo, panel)) and e["shapes"] and e, timeout=60,
                  message="no annotations on the error-rate panel")
    labels = " ".join(drawn["labels"])
    # The 1.4.0 deploy, the 1.4.1 fix and the live version's deploy, as lines at their times.
    for start, version in story.deploys[1:]:
        assert f"api {version}" in labels
        assert any(s["type"] == "line" and abs(s["x0"] / 1000 - start) < 3600
                   for s in drawn["shapes"]), version
    # The incident: LatencyP95High fired in it, a shaded region inside the incident window.
    regions = [s for s in drawn["shapes"] if s["type"] == "rect"]
    assert any(story.incident[0] <= r["x0"] / 1000 <= story.incident[1] for r in regions)
    assert "LatencyP95High" in labels
    # ErrorBudgetBurn fired all week: named in a note, not a shade over the whole chart.
    notes = dash_duo.find_element(f"[id='{graph_id(panel).replace('graph', 'notice')}']")
    assert "ErrorBudgetBurn fired over the whole range" in notes.text

    compare(dash_duo, "band")
    below = f"[id='{graph_id(panel).replace('metrics-graph', ids.METRICS_BELOW)}']"
    until(lambda: "anomal" in dash_duo.find_element(below).text, timeout=60,
          message="no anomaly list under the error-rate panel")
    links = dash_duo.find_elements(f"{below} a")
    incident = time.strftime("%Y-%m-%d", time.gmtime(story.incident[0]))
    first = links[0].text
    assert first.startswith(incident) and "above the expected" in first, first
    assert len(links) <= 5, [a.text for a in links]  # the incident and a handful at most
    assert "expected" in " ".join(extras(dash_duo, panel)["names"])
    shot(dash_duo, screens, "metrics-7d-band", height=1400)

    links[0].click()  # zooms to the incident
    until(lambda: dash_duo.find_element(LABEL).text.startswith(incident), timeout=30,
          message="the anomaly link did not zoom")
    span = story.incident[1] - story.incident[0]
    assert "UTC" in dash_duo.find_element(LABEL).text and span < DAY


def test_time_shift_and_inspect(week_app, dash_duo):
    panel = "request-rate"
    until(lambda: (e := extras(dash_duo, panel)) and e["names"], timeout=60)
    compare(dash_duo, "1d")
    until(lambda: any("(1 day earlier)" in n for n in extras(dash_duo, panel)["names"]),
          timeout=60, message="no shifted series")
    compare(dash_duo, "off")
    until(lambda: not any("earlier" in n for n in extras(dash_duo, panel)["names"]),
          timeout=60)

    button = f"[id='{graph_id(panel).replace('metrics-graph', ids.METRICS_INSPECT)}']"
    dash_duo.find_element(button).click()
    body = "#" + ids.METRICS_INSPECT_BODY
    until(lambda: "Step" in dash_duo.find_element(body).text, timeout=30)
    text = dash_duo.find_element(body).text
    assert "/api/v1/query_range" in text and "http_requests_total" in text
    assert "Prometheus took" in text and "Data:" in text
    assert dash_duo.get_logs() == []

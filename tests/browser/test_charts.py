"""Charts in headless Chromium: a label value is text, never a link; nothing offers the cloud.

plotly.js renders a subset of HTML in trace names (``<a href>``, ``<b>``, ``<br>``), so a
label value from Prometheus could put a clickable link in a legend; and its mode bar can offer
"Edit in Chart Studio" / "send to cloud" and a plotly.com logo link — a data leak on an ops
network. Prometheus here is a real HTTP server answering a recorded matrix.
"""

from __future__ import annotations

import json
import time

import pytest

from app import create_app
from layouts import ids
from tests.recording_upstream import RecordingUpstream

LINK = '<a href="https://example.invalid/steal">click me</a>'
BOLD = "<b>bold</b><br>next"
NAMES = (LINK, BOLD, "a & b")

GRAPH_JS = """
const box = document.getElementById(arguments[0]);
const gd = box && box.querySelector('.js-plotly-plot');
if (!gd || !gd._fullData || !gd._fullData.length) { return null; }
return {
  legend: Array.from(gd.querySelectorAll('.legendtext')).map((e) => e.textContent),
  links: Array.from(box.querySelectorAll('a')).map((a) => a.getAttribute('href')
                                                    || a.getAttribute('xlink:href')),
  bold: box.querySelectorAll('.legendtext b, .legendtext tspan[style*="bold"]').length,
  buttons: Array.from(box.querySelectorAll('.modebar-btn')).map(
      (b) => b.getAttribute('data-title') || ''),
  config: gd._context && {cloud: gd._context.showSendToCloud,
                          server: gd._context.plotlyServerURL,
                          logo: gd._context.displaylogo},
};
"""


@pytest.fixture
def hostile_labels():
    """Prometheus whose series carry HTML in their label values."""
    now = time.time()
    result = [{"metric": {"__name__": "up", "job": name},
               "values": [[now - 600 + 30 * k, str(i + k % 3)] for k in range(20)]}
              for i, name in enumerate(NAMES)]
    body = json.dumps({"status": "success",
                       "data": {"resultType": "matrix", "result": result}}).encode()
    server = RecordingUpstream({"/api/v1/query_range": body})
    yield server
    server.stop()


def until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return found


def test_label_values_are_legend_text_and_no_button_goes_online(dash_duo, write_config,
                                                                hostile_labels):
    config = write_config(f'[prometheus]\nurl = "{hostile_labels.url}"\n'
                          '[[panels]]\ntitle = "Up"\nquery = "up"\nlegend = "{{job}}"\n')
    dash_duo.start_server(create_app(config))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=metrics")
    graph = json.dumps({"panel": "up", "type": ids.METRICS_GRAPH}, separators=(",", ":"))
    seen = until(lambda: dash_duo.driver.execute_script(GRAPH_JS, graph))
    assert sorted(seen["legend"]) == sorted(NAMES)  # shown exactly as written
    assert seen["links"] == [] and seen["bold"] == 0
    # The mode bar shows on hover: make it render, then read its buttons.
    area = dash_duo.driver.find_element("css selector", f"[id='{graph}'] .nsewdrag")
    dash_duo.driver.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('mousemove', {bubbles: true}))", area)
    seen = until(lambda: (s := dash_duo.driver.execute_script(GRAPH_JS, graph))["buttons"]
                 and s)
    titles = " ".join(seen["buttons"]).lower()
    assert "download plot as a png" in titles  # the mode bar is there ...
    # ... with nothing online: plotly.js 4 offers "Share chart..." (to cloud.plotly.com) by
    # default, and older ones "Edit in Chart Studio"; the logo links to plotly.com.
    for online in ("share", "cloud", "chart studio", "plotly"):
        assert online not in titles
    assert seen["config"] == {"cloud": False, "server": "", "logo": False}
    online = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map((a) => a.href)"
        ".filter((h) => !h.startsWith(location.origin))")
    assert online == []
    assert dash_duo.get_logs() == []

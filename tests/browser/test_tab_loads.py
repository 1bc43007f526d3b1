"""A tab's upstream calls wait until it is shown: a Metrics load asks nothing of Loki, nor
Prometheus' targets and alerts (the Status tab's), and each tab loads when first shown.

The dashboard talks to a real Prometheus (with a known history) and a Loki double through
counting proxies (``stack.counting_proxy``), so the test sees every call that reaches them.
"""

from __future__ import annotations

import threading
import time

import pytest

from app import create_app
from layouts import ids
from stack.counting_proxy import Counts, http_proxy
from stack.poll import until
from tests.browser.test_logs import backend_entries

PANELS_DRAWN_JS = """
const panels = document.querySelectorAll('.metrics-panel');
return panels.length > 0 && Array.from(panels).every((el) => {
  const gd = el.querySelector('.js-plotly-plot');
  return gd && gd._fullData && gd.data && gd.data.length > 0; });
"""


@pytest.fixture
def counted(history_prometheus, make_loki_double):
    """Proxies counting the calls to Prometheus and to a Loki holding the last 45 min."""
    loki = make_loki_double(backend_entries(time.time_ns() - 45 * 60 * 10**9))
    counts = Counts()
    servers = {name: http_proxy(name, 0, url, counts)
               for name, url in (("prometheus", history_prometheus.url), ("loki", loki.url))}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = {n: f"http://127.0.0.1:{s.server_address[1]}" for n, s in servers.items()}
    yield urls, counts
    for server in servers.values():
        server.shutdown()
        server.server_close()


def test_a_metrics_load_asks_nothing_for_other_tabs_which_load_when_shown(
        dash_duo, write_config, counted):
    urls, counts = counted
    config = write_config(f"""
[prometheus]
url = "{urls["prometheus"]}"
[loki]
url = "{urls["loki"]}"
[refresh]
logs = 3600
[[panels]]
title = "Up"
query = "sum by (instance) (up)"
""")
    dash_duo.start_server(create_app(config), navigate=False)  # no load of "/" first
    dash_duo.driver.get(dash_duo.server.url + "/?tab=metrics")
    until(lambda: dash_duo.driver.execute_script(PANELS_DRAWN_JS), timeout=30,
          message="the panels were never drawn")
    time.sleep(1.5)  # anything the load still had to ask would have been asked by now

    def calls(name):
        return counts.snapshot()["http"].get(name, {})

    assert calls("prometheus").get("/api/v1/query_range")  # the panel's
    assert calls("loki") == {}
    assert not {"/api/v1/targets", "/api/v1/alerts"} & set(calls("prometheus"))
    # Logs, first shown: its query runs and its rows show.
    tab = next(t for t in dash_duo.find_elements(".tab") if t.text.strip() == "Logs")
    tab.click()
    until(lambda: dash_duo.find_elements("#logs-grid .ag-center-cols-container .ag-row"),
          timeout=30, message="the Logs tab never showed its rows")
    assert calls("loki").get("/loki/api/v1/query_range")
    # Status, first shown: Prometheus' targets are asked for and listed.
    tab = next(t for t in dash_duo.find_elements(".tab") if t.text.strip() == "Status")
    tab.click()
    until(lambda: dash_duo.find_elements(f"#{ids.STATUS_PROM_SECTION} .prom-target"),
          timeout=30, message="the Status tab never listed Prometheus' targets")
    assert calls("prometheus").get("/api/v1/targets")
    assert dash_duo.get_logs() == []

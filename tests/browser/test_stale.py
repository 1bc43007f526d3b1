"""Upstream down while the page is open: the panel keeps its last good data, badged stale."""

from __future__ import annotations

import json

from app import create_app
from layouts import ids
from stack import services
from stack.poll import until
from tests.browser.test_metrics import figure, open_url

TICKS_JS = """
const state = window.store.getState();
let node = state.layout;
for (const key of state.paths.strs[arguments[0]]) { node = node[key]; }
return node.props.n_intervals || 0;
"""


def notice_text(dash_duo, panel: str) -> str:
    notice = json.dumps({"panel": panel, "type": ids.METRICS_NOTICE}, separators=(",", ":"))
    found = dash_duo.driver.find_elements("css selector", f"[id='{notice}']")
    return found[0].text if found else ""


def ticks(dash_duo) -> int:
    """How often the Metrics tab's refresh interval has fired."""
    return dash_duo.driver.execute_script(TICKS_JS, ids.range_id("metrics", ids.RANGE_INTERVAL))


def test_prometheus_stopped_mid_view_keeps_the_chart_with_a_stale_badge(
        dash_duo, write_config, tmp_path, node_exporter, screens):
    config_yaml = services.scrape_config({"prometheus": [services.SELF_ADDRESS]}, interval="1s")
    prometheus = services.start_prometheus(tmp_path / "prom", config_yaml=config_yaml)
    try:
        services.wait_scraped(prometheus.url, ["prometheus"])
        config = write_config(f"""
[prometheus]
url = "{prometheus.url}"
cache_ttl = 0.5
[refresh]
metrics = 1
[[panels]]
title = "Scrapes up"
query = "up"
legend = "{{{{job}}}}"
""")
        dash_duo.start_server(create_app(config))
        open_url(dash_duo, **{"metrics.from": "now-5m", "metrics.to": "now"})
        until(lambda: (f := figure(dash_duo, "scrapes-up")) and f["traces"])
        assert notice_text(dash_duo, "scrapes-up") == ""
        prometheus.stop()
        badge = until(lambda: "stale since" in (t := notice_text(dash_duo, "scrapes-up")) and t,
                      timeout=20)
        assert badge.endswith("Prometheus unreachable: connection refused") or \
            "Prometheus unreachable: connection refused (next try in" in badge
        # The last good data is still drawn under the badge.
        assert [t["name"] for t in figure(dash_duo, "scrapes-up")["traces"]] == ["prometheus"]
        # Two more live refreshes while down, answered: still there, still badged.
        seen = ticks(dash_duo)
        until(lambda: ticks(dash_duo) >= seen + 2 and dash_duo.redux_state_rqs == [], 10,
              message="two more refreshes")
        assert figure(dash_duo, "scrapes-up")["traces"]
        assert "stale since" in notice_text(dash_duo, "scrapes-up")
        dash_duo.driver.save_screenshot(str(screens / "metrics-stale.png"))
    finally:
        prometheus.stop()
    assert dash_duo.get_logs() == []

"""Status tab, Prometheus section: every viewer shares one answer per scrape interval.

Viewer calls go to the real Dash endpoint; the upstream is a recording proxy in front of a
real Prometheus and a real Alertmanager, so the test counts what reached them.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from app import create_app
from tests import dash_calls
from tests.recording_upstream import RecordingUpstream

SECTION = "status-prom-targets.children"
ALERTS = "status-prom-alerts"
PATHS = ("/api/v1/targets", "/api/v1/alerts", "/api/v2/alerts")


@pytest.fixture
def proxy(prometheus_server, alertmanager_server):
    """One recording upstream answering for both: Prometheus' and Alertmanager's paths."""
    def forward(base, path):
        return lambda params: requests.get(base + path, params=params, timeout=10).content
    server = RecordingUpstream({
        "/api/v1/targets": forward(prometheus_server.url, "/api/v1/targets"),
        "/api/v1/alerts": forward(prometheus_server.url, "/api/v1/alerts"),
        "/api/v2/alerts": forward(alertmanager_server.url, "/api/v2/alerts")})
    yield server
    server.stop()


def app_for(write_config, proxy, scrape_interval):
    return create_app(write_config(f"""
[prometheus]
url = "{proxy.url}"
cache_ttl = 0.2
[alertmanager]
url = "{proxy.url}"
cache_ttl = 0.2
[metrics]
scrape_interval = {scrape_interval}
"""))


def viewer_calls(app, viewers: int, seconds: float) -> None:
    """``viewers`` browsers each asking for the section every 0.1 s for ``seconds``."""
    clients = [app.server.test_client() for _ in range(viewers)]
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for client in clients:
            resp = dash_calls.call(client, app, SECTION, {"tabs.value": "status"},
                                   triggered=["status-interval.n_intervals"])
            assert SECTION.split(".")[0] in dash_calls.response_of(resp)
        time.sleep(0.1)


def test_viewers_share_one_answer_per_scrape_interval(write_config, proxy):
    viewer_calls(app_for(write_config, proxy, scrape_interval=30), viewers=10, seconds=1.5)
    assert [len(proxy.to(p)) for p in PATHS] == [1, 1, 1]


def test_the_answer_is_asked_again_after_the_scrape_interval(write_config, proxy):
    # The same calls with a 0.3 s scrape interval: asked again as Prometheus moves on.
    viewer_calls(app_for(write_config, proxy, scrape_interval=0.3), viewers=10, seconds=1.5)
    assert all(len(proxy.to(p)) >= 3 for p in PATHS), [len(proxy.to(p)) for p in PATHS]


def test_a_part_the_browser_shows_already_is_not_sent_again(write_config, proxy,
                                                             alertmanager_server):
    # Children sent again are mounted anew in the browser: a text selection in the alert list
    # is lost every refresh, and a Silence click landing in that redraw is lost with it.
    requests.post(alertmanager_server.url + "/api/v2/alerts", timeout=5, json=[
        {"labels": {"alertname": "Shown", "severity": "info"}}]).raise_for_status()
    app = app_for(write_config, proxy, scrape_interval=30)
    client = app.server.test_client()

    def tick(shown=None):
        values = {"tabs.value": "status"}
        if shown is not None:
            values[f"{ALERTS}.children"] = shown
        return dash_calls.response_of(dash_calls.call(
            client, app, SECTION, values, triggered=["status-interval.n_intervals"]))

    first = tick()[ALERTS]["children"]
    assert "Shown" in json.dumps(first)
    assert ALERTS not in tick(shown=first)  # the same list: left as it is
    changed = json.loads(json.dumps(first).replace("Shown", "Other"))
    assert tick(shown=changed)[ALERTS]["children"] == first

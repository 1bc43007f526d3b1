"""The alert list end to end: a real Prometheus evaluating a rule and sending to a real
Alertmanager; the same alert from both is one alert, and ALERTS gives its history."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from config import Upstream
from datasources.alertmanager import Alertmanager
from datasources.cache import Cache
from datasources.prometheus import (
    HISTORY_COLUMNS,
    Prometheus,
    firing_intervals,
    frame_from_response,
)
from query import alerts
from stack import services
from stack.poll import until

RULES = """\
groups:
  - name: list
    interval: 1s
    rules:
      - alert: ListAlwaysFiring
        expr: vector(1)
        labels: {severity: critical, team: ops}
        annotations: {summary: "fires", runbook_url: "https://runbooks.example/list",
                      dashboard_url: "javascript:alert(1)"}
"""


def matrix(*series) -> bytes:
    """A query_range body of ``(labels, [t, ...])`` series, every value 1."""
    result = [{"metric": {"__name__": "ALERTS", "alertstate": "firing", **labels},
               "values": [[t, "1"] for t in stamps]} for labels, stamps in series]
    return json.dumps({"status": "success",
                       "data": {"resultType": "matrix", "result": result}}).encode()


def test_firing_stretches_split_at_gaps_one_row_per_alert():
    body = matrix(({"alertname": "A", "instance": "x"}, [0, 10, 20, 60, 70]),
                  ({"alertname": "B"}, [30]))
    got = firing_intervals(frame_from_response(body), step=10)
    assert list(got.columns) == list(HISTORY_COLUMNS)
    rows = [(r.alert, r.start.timestamp(), r.end.timestamp()) for r in got.itertuples()]
    assert rows == [("A instance=x", 0, 30), ("A instance=x", 60, 80), ("B", 30, 40)]


def test_no_alert_fired_is_an_empty_history():
    got = firing_intervals(frame_from_response(matrix()), step=10)
    assert got.empty and list(got.columns) == list(HISTORY_COLUMNS)


@pytest.fixture(scope="module")
def alerting_prometheus(tmp_path_factory, alertmanager_server):
    """A Prometheus with one always-firing rule, sending to ``alertmanager_server``."""
    config = services.scrape_config(
        {"prometheus": [services.SELF_ADDRESS]}, interval="1s", rule_files=["rules.yml"],
        alertmanagers=[f"127.0.0.1:{alertmanager_server.port}"])
    with services.start_prometheus(tmp_path_factory.mktemp("alerting"), config_yaml=config,
                                   rule_files={"rules.yml": RULES},
                                   extra_args=["--rules.alert.resend-delay=1s"]) as proc:
        yield proc


def upstream(name: str, url: str) -> Upstream:
    return Upstream(name, url, timeout=5.0, cache_ttl=0.01)


def test_the_alert_prometheus_sent_to_alertmanager_is_listed_once(
        alerting_prometheus, alertmanager_server, tmp_path):
    cache = Cache(tmp_path / "cache")
    prom = Prometheus(upstream("Prometheus", alerting_prometheus.url), cache)
    am = Alertmanager(upstream("Alertmanager", alertmanager_server.url), cache)

    def merged():
        frame = alerts.merge(prom.alerts().value, am.alerts(force=True).value)
        mine = frame[frame["alertname"] == "ListAlwaysFiring"]
        return len(mine) == 1 and mine["sources"].item() == ("prometheus", "alertmanager") \
            and mine.iloc[0].to_dict()

    # Prometheus finds Alertmanager a few seconds after it starts
    alert = until(merged, 30, every=0.5, message="the alert in both sources")
    assert alert["state"] == "firing"
    assert alert["runbook_url"] == "https://runbooks.example/list"
    assert alert["dashboard_url"] is None  # javascript: is never a link

    now = time.time()
    [history] = until(lambda: (h := prom.alert_history(now - 60, now + 1, 1).value) is not None
                      and not h.empty and [h], 10, message="ALERTS has samples")
    [row] = history[history["alertname"] == "ListAlwaysFiring"].itertuples()
    assert row.alert == "ListAlwaysFiring severity=critical team=ops"
    assert row.start <= pd.Timestamp(now, unit="s", tz="UTC") <= row.end

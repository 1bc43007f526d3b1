"""A Prometheus with a known service history, rules and an Alertmanager, for the Metrics tests.

``service_series(end)`` holds eight days of an "api" service's metrics (the names the
seed panels use), one sample a minute up to ``end``, with instance api-2 down for two hours a
day ago and for ten minutes in the last hour (gaps the charts must show); ``fleet_series(end)``
31 days of a 150-series gauge (``fleet_load``) every 30 minutes, for the payload bound.

Fixtures (import them into a test module): ``history_prometheus`` (session) starts Prometheus
on the service history, scraping itself and the node exporter, evaluating ``RULES`` and
sending alerts to ``alertmanager_server``; ``fleet_vm`` imports the fleet into
VictoriaMetrics (promtool would write ~370 two-hour blocks for 31 days: too slow for a test).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import pytest
import requests

from stack import openmetrics as om
from stack import services
from stack.openmetrics import Family
from stack.poll import until

DAY, MINUTE = 86_400, 60
SERVICE_DAYS, FLEET_DAYS = 8, 31
INSTANCES = ("api-1:8000", "api-2:8000")
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
#: share of requests at or under each bucket's bound
BUCKET_SHARE = (0.30, 0.62, 0.85, 0.95, 0.985, 0.997, 1.0)
FLEET_SERIES, FLEET_STEP = 150, 30 * MINUTE

RULES = """
groups:
  - name: demo
    rules:
      - alert: ApiErrorBudgetBurn
        expr: vector(1)
        labels: {severity: critical, service: api}
        annotations: {summary: "api 5xx ratio above 1% for 5 minutes"}
      - alert: DiskWillFillIn4h
        expr: vector(1)
        for: 1h
        labels: {severity: warning}
        annotations: {summary: "disk on api-1 fills up within 4 hours"}
"""


def down(instance: str, t: int, end: int) -> bool:
    """Whether ``instance`` has no samples at ``t`` (the gaps)."""
    if instance != INSTANCES[1]:
        return False
    return end - DAY - 2 * 3600 <= t < end - DAY or end - 40 * MINUTE <= t < end - 30 * MINUTE


class Series(NamedTuple):
    """One backfilled series: its family, labels, sample times and values."""

    family: str
    labels: dict[str, str]
    times: np.ndarray
    values: np.ndarray


def service_series(end: int) -> list[Series]:
    """Eight days of the api service, one sample a minute, ending at ``end``."""
    times = np.arange(end - SERVICE_DAYS * DAY, end + 1, MINUTE)
    out = []
    for inst in INSTANCES:
        up = times[[not down(inst, int(t), end) for t in times]]
        out += instance_series(inst, up, end)
    return out


def fleet_series(end: int) -> list[Series]:
    """31 days of a 150-series gauge, one sample every 30 minutes."""
    times = np.arange(end - FLEET_DAYS * DAY, end + 1, FLEET_STEP)
    return [Series("fleet_load", {"job": "fleet", "instance": f"host-{i:03d}"}, times,
                   (i % 17) + np.sin(times / 7200 + i)) for i in range(FLEET_SERIES)]


def instance_series(inst: str, times: np.ndarray, end: int) -> list[Series]:
    """The api series of one instance sampled at ``times``."""
    base = {"job": "api", "instance": inst}
    wave = 1 + 0.6 * np.sin(2 * np.pi * ((times % DAY) / DAY - 0.3))
    rpm = (600 if inst == INSTANCES[0] else 420) * wave
    # A burst of errors on the last day, 3 h to 2 h before the end.
    share = np.where((times >= end - 3 * 3600) & (times < end - 2 * 3600), 0.08, 0.01)
    series = [
        Series("http_requests_total", {**base, "status": "200"}, times,
               np.cumsum(rpm * (1 - share))),
        Series("http_requests_total", {**base, "status": "500"}, times, np.cumsum(rpm * share)),
        Series("http_connections_active", base, times, np.round(rpm / 12)),
        Series("cache_hits_total", base, times, np.cumsum(rpm * 0.8)),
        Series("cache_misses_total", base, times, np.cumsum(rpm * 0.2)),
    ]
    series += [Series("http_request_duration_seconds_bucket", {**base, "le": le}, times,
                      np.cumsum(rpm * q)) for le, q in zip(BUCKETS, BUCKET_SHARE, strict=True)]
    return series


def families(series: list[Series]) -> list[Family]:
    """``series`` as gauge families (one per sample name), values to three decimals."""
    out: dict[str, Family] = {}
    for s in series:
        out.setdefault(s.family, Family(s.family)).series.append(
            om.Series(s.family, s.labels, s.times, s.values, decimals=3))
    return list(out.values())


@pytest.fixture(scope="session")
def history_end():
    """The last backfilled sample's time: a whole minute, a little before the server starts."""
    return int(time.time() // MINUTE * MINUTE) - MINUTE


@pytest.fixture(scope="session")
def history_prometheus(tmp_path_factory, history_end, node_exporter, alertmanager_server):
    """Prometheus on the backfilled history, scraping itself and the node exporter."""
    state = tmp_path_factory.mktemp("history-prometheus")
    # One OpenMetrics text per day: promtool re-reads its input for every 2 h block it writes.
    history = om.openmetrics_chunks(families(service_series(history_end)), DAY)
    node = f"{node_exporter.host}:{node_exporter.port}"
    am = f"{alertmanager_server.host}:{alertmanager_server.port}"
    config = services.scrape_config({"prometheus": [services.SELF_ADDRESS], "node": [node]},
                                    interval="1s", rule_files=["rules.yml"],
                                    alertmanagers=[am])
    # Alerts firing before Prometheus has found Alertmanager are resent only after the resend
    # delay (1 min by default): a short one gets them to Alertmanager within seconds.
    with services.start_prometheus(state, config_yaml=config, rule_files={"rules.yml": RULES},
                                   history=history, retention="90d",
                                   extra_args=["--rules.alert.resend-delay=1s"]) as proc:
        services.wait_scraped(proc.url, ["prometheus", "node"])
        yield proc


@pytest.fixture(scope="session")
def fleet_vm(victoria_metrics, history_end):
    """VictoriaMetrics holding ``fleet_series(history_end)``, once every series is searchable."""
    resp = requests.post(victoria_metrics.url + "/api/v1/import/prometheus",
                         data=om.prometheus_text(families(fleet_series(history_end))), timeout=30)
    resp.raise_for_status()

    def indexed() -> bool:
        found = requests.get(victoria_metrics.url + "/api/v1/series",
                             params={"match[]": "fleet_load", "start": history_end - DAY},
                             timeout=5).json()["data"]
        return len(found) == FLEET_SERIES

    until(indexed, 30, every=0.2, message="VictoriaMetrics indexing every fleet series")
    return victoria_metrics

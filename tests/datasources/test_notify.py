"""Service down/up notifications: what is posted when, then against a real Alertmanager."""

from __future__ import annotations

import socket
import uuid

import pytest
import requests

from config import Service, Upstream
from datasources.alertmanager import Alertmanager, rfc3339
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.notify import ALERTNAME, Notifier, notifications
from datasources.probes import ProbeResult
from datasources.status import StatusSource
from stack.poll import until


def result(name: str, up: bool, at: float = 1000.0, detail: str = "") -> ProbeResult:
    return ProbeResult(name, "tcp", f"tcp://127.0.0.1:1/{name}", "data", up, None,
                       detail or ("connected" if up else "connection refused"), at)


def by_name(results) -> dict:
    return {r.name: r for r in results}


def test_going_down_posts_a_firing_alert_valid_for_four_repeats():
    [notice] = notifications({"db": result("db", True)}, [result("db", False, 1000)],
                             now=1000, last_sent={}, repeat=60, severities={"db": "page"})
    assert notice.firing and notice.service == "db"
    assert notice.alert["labels"] == {"alertname": ALERTNAME, "service": "db",
                                      "severity": "page", "group": "data"}
    assert notice.alert["annotations"]["summary"] == "db is down: connection refused"
    assert notice.alert["startsAt"] == rfc3339(1000)
    assert notice.alert["endsAt"] == rfc3339(1000 + 4 * 60)


@pytest.mark.parametrize(("sent", "now", "posts"), [
    (1000, 1030, False),   # posted 30 s ago, repeat 60: nothing new
    (1000, 1060, True),    # a repeat later: posted again, so it does not expire
    (None, 1030, True),    # never posted (the last post failed): posted now
])
def test_still_down_is_posted_again_each_repeat(sent, now, posts):
    last_sent = {} if sent is None else {"db": sent}
    got = notifications({"db": result("db", False, 1000)}, [result("db", False, now)], now=now,
                        last_sent=last_sent, repeat=60)
    assert bool(got) is posts
    if posts:
        assert got[0].alert["startsAt"] == rfc3339(1000)  # when it went down


def test_coming_back_posts_it_resolved_and_up_stays_quiet():
    [notice] = notifications({"db": result("db", False)}, [result("db", True, 1100)],
                             now=1100, last_sent={"db": 1000}, repeat=60)
    assert not notice.firing and notice.alert["endsAt"] == rfc3339(1100)
    assert notice.alert["labels"]["severity"] == "critical"  # the default
    assert notifications({"db": result("db", True)}, [result("db", True)], now=1100,
                         last_sent={}, repeat=60) == []
    assert notifications({}, [result("db", True)], now=1100, last_sent={}, repeat=60) == []


def test_a_first_round_with_a_service_down_posts_it():
    [notice] = notifications({}, [result("db", False)], now=1000, last_sent={}, repeat=60)
    assert notice.firing


# --- against a real Alertmanager --------------------------------------------------------------

def am_alerts(url: str, service: str) -> list[dict]:
    found = requests.get(url + "/api/v2/alerts", params={"filter": f'service="{service}"'},
                         timeout=5).json()
    return [a for a in found if a["labels"].get("alertname") == ALERTNAME]


def alertmanager(url: str, tmp_path) -> Alertmanager:
    return Alertmanager(Upstream("Alertmanager", url, timeout=2.0, cache_ttl=0.01),
                        Cache(tmp_path / "cache"))


def test_a_probe_round_going_down_then_up_fires_and_resolves_in_alertmanager(
        alertmanager_server, tmp_path):
    url, name = alertmanager_server.url, f"svc-{uuid.uuid4().hex[:8]}"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = sock.getsockname()[1]
    # retries=0: Offline (and notified) at the first failure, not Pending first
    services = [Service(name, "tcp", port, group="data", severity="warning", timeout=1.0,
                        retries=0)]
    notifier = Notifier(alertmanager(url, tmp_path).post_alerts, services, repeat=60,
                        background=False)
    status = StatusSource(services, Cache(tmp_path / "status"),
                          ProbeHistory(tmp_path / "h.sqlite3"), ttl=0.01,
                          listeners=[notifier])
    try:
        assert not status.snapshot(force=True).value[0].up
        [alert] = am_alerts(url, name)
        assert alert["labels"] == {"alertname": ALERTNAME, "service": name, "group": "data",
                                   "severity": "warning"}
        assert alert["status"]["state"] == "active"
        assert alert["annotations"]["summary"].startswith(f"{name} is down: ")
        sock.listen()
        assert status.snapshot(force=True).value[0].up
        # resolved: Alertmanager no longer lists it among its alerts
        until(lambda: am_alerts(url, name) == [], 5, message="alert resolved")
    finally:
        sock.close()


def test_a_failed_post_is_retried_on_the_next_round(alertmanager_server, closed_port,
                                                    tmp_path):
    name = f"svc-{uuid.uuid4().hex[:8]}"
    down = alertmanager(f"http://127.0.0.1:{closed_port}", tmp_path)
    up = alertmanager(alertmanager_server.url, tmp_path)
    target = {"am": down}
    notifier = Notifier(lambda alerts: target["am"].post_alerts(alerts), repeat=60,
                        background=False)
    notifier([result(name, False)])  # Alertmanager down: logged, not raised
    target["am"] = up
    notifier([result(name, False)])
    assert len(am_alerts(alertmanager_server.url, name)) == 1


@pytest.mark.parametrize(("extra", "listeners"), [
    ('url = "http://127.0.0.1:9"\n', 1), ('url = "http://127.0.0.1:9"\nnotify = false\n', 0),
    ("", 0)])
def test_the_app_notifies_only_with_an_alertmanager_and_notify_on(write_config, extra,
                                                                  listeners):
    from callbacks import build_deps

    deps = build_deps(write_config("[alertmanager]\n" + extra))
    assert len(deps.status.listeners) == listeners


def test_posting_runs_off_the_round_and_still_arrives(alertmanager_server, tmp_path):
    name = f"svc-{uuid.uuid4().hex[:8]}"
    notifier = Notifier(alertmanager(alertmanager_server.url, tmp_path).post_alerts, repeat=60)
    notifier([result(name, False)])
    until(lambda: len(am_alerts(alertmanager_server.url, name)) == 1, 5,
          message="the background post arrived")


def test_pending_and_maintenance_notify_nobody_and_a_notified_outage_in_maintenance_resolves():
    up = ProbeResult("a", "tcp", "tcp://x:1", "g", True, 1.0, "connected", 100.0)
    pending = up.as_state("pending", "connection refused (failure 1 of 2 before Offline)")
    down = up.as_state("down", "connection refused")
    maint = up.as_state("maintenance", "maintenance (backup); probe: down")
    assert notifications({"a": up}, [pending], now=100, last_sent={}, repeat=60) == []
    assert notifications({"a": up}, [maint], now=100, last_sent={}, repeat=60) == []
    [fired] = notifications({"a": pending}, [down], now=100, last_sent={}, repeat=60)
    assert fired.firing
    [resolved] = notifications({"a": down}, [maint], now=160, last_sent={"a": 100}, repeat=60)
    assert not resolved.firing

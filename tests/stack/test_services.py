"""The server starters bring up working servers and clean up after themselves."""

from __future__ import annotations

import socket
import time

import numpy as np
import psutil
import pytest
import requests

from stack import openmetrics, services
from stack.openmetrics import Family, Series
from stack.poll import until

DAY = 86_400


def instant_query(url, query, at=None):
    params = {"query": query} if at is None else {"query": query, "time": at}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=5)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def test_redis_answers_ping_in_raw_resp(redis_server):
    assert redis_server.url is None
    with socket.create_connection((redis_server.host, redis_server.port), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"


def test_nginx_serves_welcome_page(nginx_server):
    resp = requests.get(nginx_server.url + "/", timeout=5)
    assert resp.status_code == 200
    assert "Welcome to nginx" in resp.text


def test_nginx_proxies_metrics_to_upstream_and_keeps_own_root(tmp_path, node_exporter):
    with services.start_nginx(tmp_path, upstream_url=node_exporter.url) as nginx:
        assert "node_cpu_seconds_total" in requests.get(nginx.url + "/metrics", timeout=5).text
        assert "Welcome to nginx" in requests.get(nginx.url + "/", timeout=5).text


def test_nginx_rejects_upstream_with_a_path(tmp_path):
    with pytest.raises(ValueError, match="scheme://host:port"):
        services.start_nginx(tmp_path, upstream_url="http://127.0.0.1:1/prefix")


def test_prometheus_is_ready_and_scrapes_node_exporter(prometheus_server, node_exporter):
    assert requests.get(prometheus_server.url + "/-/ready", timeout=5).status_code == 200
    result = until(lambda: instant_query(prometheus_server.url, 'up{job="node"} == 1'))
    assert result[0]["metric"]["instance"] == f"{node_exporter.host}:{node_exporter.port}"
    assert until(lambda: instant_query(prometheus_server.url, 'up{job="prometheus"} == 1'))


def test_alertmanager_reports_status_with_clustering_off(alertmanager_server):
    status = requests.get(alertmanager_server.url + "/api/v2/status", timeout=5).json()
    assert status["cluster"]["status"] == "disabled"
    assert 'receiver: "null"' in status["config"]["original"]


def test_victoria_metrics_import_then_query_roundtrip(victoria_metrics):
    assert requests.get(victoria_metrics.url + "/health", timeout=5).text.strip() == "OK"
    at = int(time.time()) - 60
    sample = Series("svc_roundtrip", {"job": "t"}, np.array([at]), np.array([42.5]))
    text = openmetrics.prometheus_text([Family("svc_roundtrip", series=[sample])])
    requests.post(victoria_metrics.url + "/api/v1/import/prometheus", data=text, timeout=5)
    requests.get(victoria_metrics.url + "/internal/force_flush", timeout=5)
    result = until(lambda: instant_query(victoria_metrics.url, "svc_roundtrip", at))
    assert result[0]["value"] == [at, "42.5"]


def counter_openmetrics(start, days, step):
    """A counter that rises by 1 every ``step`` seconds, as OpenMetrics text."""
    count = np.arange(days * DAY // step + 1)
    total = Series("demo_requests_total", {"job": "demo"}, start + count * step, count,
                   integer=True)
    return openmetrics.openmetrics([Family("demo_requests", "counter", "Requests served.",
                                           [total])])


def test_backfilled_history_is_queryable_exactly(tmp_path):
    start = (int(time.time()) // 3600 - 4 * 24) * 3600  # whole hours, 4 days ago
    data = tmp_path / "data"
    services.backfill_openmetrics(counter_openmetrics(start, 3, 60), data, workdir=tmp_path)
    config = services.scrape_config({})
    with services.start_prometheus(tmp_path / "prom", config_yaml=config, data_dir=data) as prom:
        at = start + 1000 * 60 + 30  # between samples: the value is the one at or before
        result = instant_query(prom.url, "demo_requests_total", at)
        last = instant_query(prom.url, "demo_requests_total", start + 3 * DAY)
    assert result[0]["value"] == [at, "1000"]
    assert last[0]["value"][1] == str(3 * DAY // 60)


def test_backfill_reports_promtool_error(tmp_path):
    with pytest.raises(services.ServiceError, match="promtool"):
        services.backfill_openmetrics("not a metric line at all\n# EOF\n", tmp_path / "d",
                                      workdir=tmp_path)


def test_backfill_requires_eof_marker(tmp_path):
    with pytest.raises(ValueError, match="# EOF"):
        services.backfill_openmetrics("x_total 1 1\n", tmp_path / "d", workdir=tmp_path)


def test_stop_ends_whole_process_group_and_is_idempotent(tmp_path):
    nginx = services.start_nginx(tmp_path)
    leader = psutil.Process(nginx.popen.pid)
    group = [leader, *leader.children(recursive=True)]
    assert len(group) >= 2  # master and at least one worker
    nginx.stop()
    nginx.stop()
    assert not nginx.alive()
    assert not [p for p in group if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path):
    trapped = tmp_path / "trapped"  # written once the shell ignores SIGTERM, not before
    script = f"trap '' TERM; touch '{trapped}'; sleep 60 & wait"
    proc = services.start_server("stubborn", ["sh", "-c", script], tmp_path,
                                 ready=services.file_ready(trapped))
    started = time.monotonic()
    proc.stop(timeout=0.5)
    assert not proc.alive() and proc.popen.returncode == -9
    assert time.monotonic() - started < 3


def test_missing_binary_error_names_the_debian_package(tmp_path):
    with pytest.raises(services.MissingBinaryError, match="apt-get install nginx"):
        services.find_binary("nginx", path="", fallback="")
    with pytest.raises(services.MissingBinaryError, match="redis-server"):
        services.start_redis(tmp_path, binary=str(tmp_path / "no-such-redis"))


def test_server_dying_at_start_raises_with_its_log_tail(tmp_path, redis_server):
    with pytest.raises(services.PortInUseError, match=r"(?i)address already in use"):
        services.start_redis(tmp_path, port=redis_server.port)


def test_lost_port_race_is_retried_once_on_a_new_port(tmp_path, redis_server):
    proc = services.start_with_port_retry(
        lambda port: services.start_redis(tmp_path, port), None,
        pick_port=lambda host: redis_server.port,  # as if another process took our free port
    )
    with proc:
        assert proc.port != redis_server.port and proc.alive()


def test_closed_port_refuses_connections(closed_port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((services.LOCALHOST, closed_port), timeout=2)


def test_black_hole_accepts_connections_but_never_answers(black_hole):
    with socket.create_connection(black_hole, timeout=2) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)

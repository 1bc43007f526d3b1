"""Probes against real servers: what a card says for each way a service can be up or down."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from config import Service
from datasources.probes import (
    ProbeResult,
    apply_known_answers,
    apply_maintenance,
    apply_retries,
    probe,
    probe_all,
    probe_http,
    probe_tcp,
    summary,
)
from query.maintenance import window


def http(port, **kw):
    return Service(name=kw.pop("name", "web"), kind="http", port=port, **kw)


def test_tcp_up_against_real_redis(redis_server):
    r = probe_tcp(Service("Redis", "tcp", redis_server.port))
    assert r.up and r.detail == "connected" and r.latency_ms >= 0
    assert r.target == f"tcp://127.0.0.1:{redis_server.port}"


def test_tcp_refused(closed_port):
    r = probe_tcp(Service("gone", "tcp", closed_port))
    assert (r.up, r.detail, r.latency_ms) == (False, "connection refused", None)


def test_http_up_with_status_and_keyword(nginx_server):
    r = probe_http(http(nginx_server.port, keyword="Welcome to nginx"))
    assert r.up and r.detail == "HTTP 200" and r.latency_ms > 0


def test_http_keyword_missing(nginx_server):
    r = probe_http(http(nginx_server.port, keyword="Ready"))
    assert (r.up, r.detail) == (False, "keyword 'Ready' missing")


def test_http_status_outside_the_range(nginx_server):
    r = probe_http(http(nginx_server.port, path="/no-such-page"))
    assert (r.up, r.detail) == (False, "HTTP 404")
    r = probe_http(http(nginx_server.port, path="/no-such-page", expect_status=[200, 404]))
    assert r.up and r.detail == "HTTP 404"


def test_http_ready_endpoint_of_real_prometheus(prometheus_server):
    r = probe(http(prometheus_server.port, path="/-/ready", keyword="Ready"))
    assert r.up, r.detail


def test_http_refused(closed_port):
    r = probe_http(http(closed_port))
    assert (r.up, r.detail) == (False, "connection refused")


def test_http_black_hole_times_out_after_its_timeout(black_hole):
    host, port = black_hole
    started = time.monotonic()
    r = probe_http(http(port, host=host, timeout=0.5))
    assert (r.up, r.detail) == (False, "timed out after 0.5 s")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["tcp", "http", "https"])
def test_a_name_that_does_not_resolve_is_named_as_a_dns_failure(kind):
    # .invalid resolves nowhere (RFC 6761): no network is asked anything that can answer.
    r = probe(Service("typo", kind, 80, host="no-such-host.invalid", timeout=1))
    assert (r.up, r.state, r.detail) == (
        False, "down", "DNS: host name no-such-host.invalid not resolved")


def test_round_with_black_holes_takes_about_the_longest_timeout(redis_server, closed_port,
                                                                black_hole):
    host, port = black_hole
    services = [Service("redis", "tcp", redis_server.port), Service("refused", "tcp", closed_port)]
    services += [http(port, host=host, name=f"hole{i}", timeout=1.0) for i in range(10)]
    started = time.monotonic()
    results = probe_all(services)
    elapsed = time.monotonic() - started
    # Ten 1 s timeouts one after another would take 10 s; together they take about 1 s.
    assert elapsed < 4, elapsed
    assert [r.name for r in results] == [s.name for s in services]
    assert summary(results) == (1, 12)
    assert {r.detail for r in results[2:]} == {"timed out after 1 s"}



@pytest.fixture
def dribbler():
    """An HTTP server that answers 200 at once, then sends its body a byte every 0.1 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                if stop.wait(0.1):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(b"x")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_keyword_read_is_bounded_by_the_timeout_when_the_body_dribbles(dribbler):
    started = time.monotonic()
    r = probe_http(http(dribbler, timeout=1.0, keyword="Ready"))
    assert (r.up, r.detail) == (False, "keyword 'Ready' missing")
    assert time.monotonic() - started < 3  # the whole body would take 100 s


# --- https: certificates (nginx over TLS with the test CA's certificates) --------------------

def https(server, **kw):
    return Service(name="tls", kind="https", port=server.port, **kw)


def test_https_up_with_the_certificates_days_left(https_servers):
    r = probe(https(https_servers.procs["valid"], tls_ca_file=str(https_servers.ca_file),
                    keyword="Welcome to nginx"))
    assert (r.up, r.state) == (True, "up"), r.detail
    assert r.cert_days == pytest.approx(30, abs=0.1)
    assert r.detail == "HTTP 200; certificate valid for 30 days"
    assert r.target == f"https://127.0.0.1:{https_servers.procs['valid'].port}/"


def test_https_certificate_expiring_within_tls_warn_days_is_degraded(https_servers):
    r = probe(https(https_servers.procs["valid"], tls_ca_file=str(https_servers.ca_file),
                    tls_warn_days=45))
    assert (r.up, r.state) == (True, "degraded")
    assert r.detail.startswith("HTTP 200; certificate expires in ") and r.detail.endswith(" days")


@pytest.mark.parametrize(("name", "reason", "days"), [
    ("expired", "TLS: certificate not valid: certificate has expired (2.0 days ago)", -2),
    ("self_signed", "TLS: certificate not valid: self-signed certificate", 30),
])
def test_https_with_a_certificate_that_fails_verification_is_down_with_its_expiry(
        https_servers, name, reason, days):
    r = probe(https(https_servers.procs[name], tls_ca_file=str(https_servers.ca_file)))
    assert (r.up, r.state, r.detail, r.latency_ms) == (False, "down", reason, None)
    assert r.cert_days == pytest.approx(days, abs=0.1)


def test_https_with_the_systems_cas_refuses_a_private_ca(https_servers):
    r = probe(https(https_servers.procs["valid"]))
    assert r.state == "down" and r.detail.startswith("TLS: certificate not valid: ")


def test_https_without_verification_still_reports_expiry(https_servers):
    r = probe(https(https_servers.procs["self_signed"], tls_verify=False))
    assert (r.state, r.cert_days) == ("up", pytest.approx(30, abs=0.1))
    r = probe(https(https_servers.procs["expired"], tls_verify=False))
    assert (r.up, r.state) == (True, "degraded")
    assert r.cert_days == pytest.approx(-2, abs=0.1)
    assert r.detail == "HTTP 200; certificate expired 2.0 days ago (tls_verify is off)"


def test_https_to_a_plain_http_port_names_the_handshake(nginx_server):
    r = probe(Service("tls", "https", nginx_server.port, tls_verify=False))
    assert r.state == "down" and r.detail.startswith("TLS handshake failed: "), r.detail


def test_https_black_hole_times_out_in_the_handshake(black_hole):
    host, port = black_hole
    started = time.monotonic()
    r = probe(Service("tls", "https", port, host=host, timeout=0.5))
    assert (r.state, r.detail) == ("down", "timed out after 0.5 s")
    assert time.monotonic() - started < 2


# --- states of a round: retries, known answers, maintenance (pure) ---------------------------

def raw(name, up, detail="x", at=1_800_000_000.0):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, 1.0 if up else None, detail, at)


def test_a_result_follows_up_unless_told_its_state():
    assert raw("a", True).state == "up" and raw("a", False).state == "down"
    assert raw("a", True).as_state("degraded").up is True
    assert raw("a", True).as_state("maintenance").up is False
    with pytest.raises(ValueError, match="unknown probe state"):
        ProbeResult("a", "tcp", "t", "", True, None, "", 0.0, state="sideways")


def test_retries_turn_down_into_pending_until_the_count_passes_them():
    services = [Service("a", "tcp", 1, retries=2), Service("b", "tcp", 1, retries=0)]
    failures, seen = {}, []
    for up in (False, False, False, True, False):
        results, failures = apply_retries([raw("a", up), raw("b", up)], services, failures)
        seen.append((results[0].state, results[1].state, failures["a"]))
    assert seen == [("pending", "down", 1), ("pending", "down", 2), ("down", "down", 3),
                    ("up", "up", 0), ("pending", "down", 1)]


def test_a_degraded_service_is_no_failure():
    results, failures = apply_retries([raw("a", True).as_state("degraded")],
                                      [Service("a", "tcp", 1)], {"a": 5})
    assert (results[0].state, failures) == ("degraded", {"a": 0})


def test_known_answer_failures_degrade_only_services_that_are_up():
    results = apply_known_answers([raw("p", True, "HTTP 200"), raw("q", False, "refused"),
                                   raw("r", True)], {"p": "Prometheus error: 404", "q": "x",
                                                     "r": None})
    assert [(r.state, r.detail) for r in results] == [
        ("degraded", "up, but queries fail: Prometheus error: 404"), ("down", "refused"),
        ("up", "x")]


def test_maintenance_keeps_the_probes_own_outcome_in_the_detail():
    windows = [window("a", start="2027-01-15T08:00:00Z", end="2027-01-15T09:00:00Z")]
    inside, outside = 1_800_000_000.0, 1_800_003_600.0  # 08:00 and 09:00 that day
    results = apply_maintenance([raw("a", False, "refused", at=inside),
                                 raw("a", False, "refused", at=outside),
                                 raw("b", True, at=inside)], windows)
    assert [(r.state, r.detail) for r in results] == [
        ("maintenance", "maintenance; probe: down, refused"), ("down", "refused"), ("up", "x")]

"""StatusSource: probe rounds are throttled through the cache and recorded once each."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from config import Service
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.status import StatusSource
from query.maintenance import window
from stack.poll import until
from tests.counting_server import CountingServer


def source(tmp_path, make_cache, services, ttl=60.0):
    rounds = []

    def counting_round(svcs):
        from datasources.probes import probe_all
        rounds.append(time.monotonic())
        return probe_all(svcs)

    src = StatusSource(services, make_cache(), ProbeHistory(tmp_path / "h.sqlite3"),
                       ttl=ttl, probe_round=counting_round)
    return src, rounds


def test_rounds_are_throttled_and_refresh_now_forces_one(tmp_path, make_cache, redis_server):
    src, rounds = source(tmp_path, make_cache, [Service("Redis", "tcp", redis_server.port)])
    for _ in range(3):
        assert src.snapshot().value[0].up
    assert len(rounds) == 1
    src.snapshot(force=True)
    assert len(rounds) == 2
    assert src.uptime() == {"Redis": {"1h": 1.0, "24h": 1.0, "7d": 1.0}}
    [(minute, ms)] = src.latency()["Redis"]
    assert ms > 0 and minute % 60 == 0


def test_background_probing_records_history_with_no_browser(tmp_path, make_cache, redis_server,
                                                            closed_port):
    services = [Service("Redis", "tcp", redis_server.port), Service("Gone", "tcp", closed_port)]
    src, rounds = source(tmp_path, make_cache, services, ttl=0.05)
    stop = src.probe_in_background(0.1)
    try:
        until(lambda: len(rounds) >= 3, 10, every=0.05, message="three background rounds")
    finally:
        stop.set()
    uptime = src.uptime()
    assert uptime["Redis"]["1h"] == 1.0 and uptime["Gone"]["1h"] == 0.0


class Clock:
    """A clock the test moves by hand: the cache's TTLs follow it, not the wall."""

    def __init__(self, at: float = 1_000_000.0):
        self.at = at

    def __call__(self) -> float:
        return self.at


def viewers(src: StatusSource, n: int) -> list:
    """``n`` Status tabs refreshing at once, as the waitress threads serve them."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: src.latest(), range(n)))


@pytest.fixture
def counted():
    server = CountingServer(body=b"ok")
    yield server
    server.stop()


def test_viewers_read_the_probers_rounds_and_add_no_probes(tmp_path, make_cache, counted):
    clock = Clock()
    src = StatusSource([Service("web", "http", counted.port, timeout=1.0)],
                       make_cache(now=clock), ProbeHistory(tmp_path / "h.sqlite3"),
                       ttl=2.0, interval=3.0)
    calls = 0
    for _ in range(3):  # three prober intervals; 50 viewers, spread over each
        src.snapshot()  # the background prober's round
        for offset in (0.0, 1.5, 2.9):  # past the 2 s throttle too: still the prober's round
            clock.at += offset
            answers = viewers(src, 17)
            clock.at -= offset
            calls += len(answers)
            assert all(a.value[0].up for a in answers)
        clock.at += 3.0
    assert counted.count == 3  # one probe per round, none per viewer
    assert counted.count / calls <= 1 / 40


def test_without_a_prober_viewers_share_one_round_per_interval(tmp_path, make_cache, counted):
    clock = Clock()
    src = StatusSource([Service("web", "http", counted.port, timeout=1.0)],
                       make_cache(now=clock), ProbeHistory(tmp_path / "h.sqlite3"),
                       ttl=2.0, interval=3.0)
    viewers(src, 50)
    assert counted.count == 1  # concurrent misses coalesced into one round
    clock.at += 3.0 + 2.9  # one interval plus less than a round's bound (2 x 1 s + 1 s)
    viewers(src, 50)
    assert counted.count == 1
    clock.at += 0.2
    viewers(src, 50)
    assert counted.count == 2


# --- states across rounds: retries, maintenance, known answers ----------------------------------

def shared(tmp_path, services, clock, **kw):
    """A StatusSource on the cache and history in ``tmp_path``, as each server process has."""
    return StatusSource(services, Cache(tmp_path / "c", now=clock),
                        ProbeHistory(tmp_path / "h.sqlite3", now=clock), ttl=1.0, **kw)


def test_a_failing_service_is_pending_for_its_retries_then_down_across_processes(
        tmp_path, redis_server, closed_port):
    clock = Clock(time.time())
    services = [Service("Gone", "tcp", closed_port, retries=2),
                Service("Redis", "tcp", redis_server.port, retries=2)]
    states = []
    for i in range(4):  # a fresh source each round: what it knows lives in cache and history
        clock.at += 1.5
        [gone, redis] = shared(tmp_path, services, clock).snapshot().value
        states.append(gone.state)
        assert (redis.state, redis.up) == ("up", True)
        if i == 0:
            assert (gone.up, gone.detail) == (False, "connection refused (failure 1 of 3 "
                                                     "before Offline)")
    assert states == ["pending", "pending", "down", "down"]
    src = shared(tmp_path, services, clock)
    state, since = src.states()["Gone"]
    assert state == "down" and since == next(c[1] for c in src.changes() if c[2] == "down")
    assert [c[2] for c in src.changes() if c[0] == "Gone"] == ["pending", "down"]
    assert src.uptime()["Gone"]["1h"] == 0.0  # pending is not up


def test_retries_0_is_down_at_once(tmp_path, closed_port):
    clock = Clock(time.time())
    src = shared(tmp_path, [Service("Gone", "tcp", closed_port, retries=0)], clock)
    assert src.snapshot().value[0].state == "down"


def test_a_service_in_a_maintenance_window_is_probed_but_shown_in_maintenance(
        tmp_path, redis_server, closed_port):
    clock = Clock(time.time())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.at - 60))
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.at + 3600))
    windows = [window("Gone", start=now, end=later, reason="disk swap")]
    src = shared(tmp_path, [Service("Gone", "tcp", closed_port),
                            Service("Redis", "tcp", redis_server.port)], clock, windows=windows)
    gone, redis = src.snapshot().value
    assert (gone.state, gone.up) == ("maintenance", False)
    assert gone.detail == "maintenance (disk swap); probe: pending, connection refused " \
                          "(failure 1 of 2 before Offline)"
    assert redis.state == "up"
    assert src.uptime()["Gone"] == {"1h": None, "24h": None, "7d": None}


def test_an_upstream_that_accepts_connections_but_fails_queries_is_degraded(
        tmp_path, prometheus_server, nginx_server):
    from config import Upstream
    from datasources.prometheus import Prometheus
    from datasources.status import known_answer_checks

    cache = Cache(tmp_path / "c")
    real = Prometheus(Upstream("Prometheus", prometheus_server.url, 5.0, 1.0), cache)
    # NGINX configured as a Prometheus: /-/ready style probe fine, the known answer a 404.
    fake = Prometheus(Upstream("Prometheus", nginx_server.url, 5.0, 1.0), cache)
    services = [Service("Prometheus", "http", prometheus_server.port, path="/-/ready"),
                Service("NGINX", "http", nginx_server.port),
                Service("Redis", "tcp", 1)]
    checks = known_answer_checks(services, [(prometheus_server.url, real.health),
                                            (nginx_server.url, fake.health)])
    assert set(checks) == {"Prometheus", "NGINX"}
    src = StatusSource(services, cache, ProbeHistory(tmp_path / "h.sqlite3"),
                       known_answers=checks)
    prom, nginx, _ = src.snapshot().value
    assert (prom.state, prom.detail) == ("up", "HTTP 200")
    assert (nginx.state, nginx.up) == ("degraded", True)
    assert nginx.detail.startswith("up, but queries fail: Prometheus ")
    assert "404" in nginx.detail

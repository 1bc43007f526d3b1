"""Several replicas sharing one cache: one probe round per interval, one uptime for all."""

from __future__ import annotations

import time

import pytest

from config import Service
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.probes import probe_all
from datasources.redis_history import RedisHistory
from datasources.status import StatusSource
from stack.poll import until
from tests.counting_server import CountingServer


@pytest.fixture
def web():
    server = CountingServer(body=b"ok")
    yield server
    server.stop()


def replica(cache: Cache, history, services, rounds: list) -> StatusSource:
    """One replica's StatusSource; ``rounds`` gets its name for each round it probes."""
    def counting_round(svcs):
        results = probe_all(svcs)
        rounds.append(cache.token)
        return results
    return StatusSource(services, cache, history, ttl=0.01, interval=0.1,
                        probe_round=counting_round)


def history_for(make_cache, cache: Cache, tmp_path):
    if make_cache.backend == "redis":
        return RedisHistory(cache.store)
    return ProbeHistory(tmp_path / "h.sqlite3")  # one host: replicas share the file


def test_two_replicas_probe_one_round_per_interval_and_show_one_uptime(make_cache, tmp_path,
                                                                       web):
    services = [Service("web", "http", web.port, timeout=1.0)]
    rounds: list[str] = []
    a_cache, b_cache = make_cache(), make_cache()
    a = replica(a_cache, history_for(make_cache, a_cache, tmp_path), services, rounds)
    b = replica(b_cache, history_for(make_cache, b_cache, tmp_path), services, rounds)
    stops = [a.probe_in_background(0.1)]
    time.sleep(0.05)  # half an interval out of phase: the probe throttle alone lets both by
    stops.append(b.probe_in_background(0.1))
    try:
        until(lambda: len(rounds) >= 5, 15, every=0.05, message="five background rounds")
    finally:
        for stop in stops:
            stop.set()
    # A round under way when the probers stopped still ends: then each probe is a round's.
    until(lambda: web.count == len(rounds), 5, every=0.05, message="one probe per round")
    assert len(set(rounds)) == 1  # every round was the lease holder's
    other = b if rounds[0] == a_cache.token else a
    # The other replica's viewers read the holder's rounds and add no probes.
    assert other.latest().value[0].up and web.count == len(rounds)
    assert a.uptime() == b.uptime() == {"web": {"1h": 1.0, "24h": 1.0, "7d": 1.0}}
    assert a.latency() == b.latency() and a.latency()["web"]


def test_the_prober_lease_passes_on_when_its_holder_stops(make_cache, tmp_path, web):
    services = [Service("web", "http", web.port, timeout=0.01)]
    rounds: list[str] = []
    a_cache, b_cache = make_cache(), make_cache()
    a = replica(a_cache, history_for(make_cache, a_cache, tmp_path), services, rounds)
    b = replica(b_cache, history_for(make_cache, b_cache, tmp_path), services, rounds)
    assert a.prober_round(0.01) and not b.prober_round(0.01)
    assert a.prober_round(0.01)  # the holder keeps it by asking again
    # a stops asking: b gets the lease once it expires (2 intervals and a round's bound).
    until(lambda: b.prober_round(0.01), 5, every=0.05, message="the lease passed on")
    assert not a.prober_round(0.01)

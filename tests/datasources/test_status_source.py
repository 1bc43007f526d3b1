"""StatusSource: probe rounds are throttled through the cache and recorded once each."""

from __future__ import annotations

import time

from config import Service
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.status import StatusSource
from stack.poll import until


def source(tmp_path, services, ttl=60.0):
    rounds = []

    def counting_round(svcs):
        from datasources.probes import probe_all
        rounds.append(time.monotonic())
        return probe_all(svcs)

    src = StatusSource(services, Cache(tmp_path / "c"), ProbeHistory(tmp_path / "h.sqlite3"),
                       ttl=ttl, probe_round=counting_round)
    return src, rounds


def test_rounds_are_throttled_and_refresh_now_forces_one(tmp_path, redis_server):
    src, rounds = source(tmp_path, [Service("Redis", "tcp", redis_server.port)])
    for _ in range(3):
        assert src.snapshot().value[0].up
    assert len(rounds) == 1
    src.snapshot(force=True)
    assert len(rounds) == 2
    assert src.uptime() == {"Redis": {"1h": 1.0, "24h": 1.0, "7d": 1.0}}
    [(minute, ms)] = src.latency()["Redis"]
    assert ms > 0 and minute % 60 == 0


def test_background_probing_records_history_with_no_browser(tmp_path, redis_server,
                                                            closed_port):
    services = [Service("Redis", "tcp", redis_server.port), Service("Gone", "tcp", closed_port)]
    src, rounds = source(tmp_path, services, ttl=0.05)
    stop = src.probe_in_background(0.1)
    try:
        until(lambda: len(rounds) >= 3, 10, every=0.05, message="three background rounds")
    finally:
        stop.set()
    uptime = src.uptime()
    assert uptime["Redis"]["1h"] == 1.0 and uptime["Gone"]["1h"] == 0.0

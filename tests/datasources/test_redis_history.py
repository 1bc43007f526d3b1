"""The probe history in Redis gives the figures the SQLite history gives, for every replica."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from datasources.history import ProbeHistory
from datasources.probes import ProbeResult
from datasources.redis_history import RedisHistory
from datasources.stores import RedisStore
from tests.datasources.conftest import redis_url
from tests.datasources.test_history import T0, Clock, result, stated


@pytest.fixture
def store(redis_server):
    return RedisStore(redis_url(redis_server), prefix=f"test-{uuid.uuid4().hex[:12]}:")


def test_same_rounds_same_uptime_and_latency_as_sqlite(tmp_path, store):
    clock = Clock()
    sqlite, shared = ProbeHistory(tmp_path / "h.sqlite3", now=clock), RedisHistory(store,
                                                                                   now=clock)
    rng = random.Random(15)
    names = ["a", "b", "never"]
    # Two days of rounds, some minutes with several, a clock set back once, some latency-less.
    at = T0 - 2 * 86400
    while at < T0:
        at += rng.choice([20, 60, 300, 1800])
        back = at - 600 if rng.random() < 0.01 else at
        clock.t = at
        rnd = [result("a", rng.random() < 0.9, back, ms=rng.uniform(1, 50)),
               result("b", rng.random() < 0.5, back)]
        sqlite.record(rnd)
        shared.record(rnd)
    assert shared.uptime(names) == sqlite.uptime(names)
    assert shared.uptime(names)["never"] == {"1h": None, "24h": None, "7d": None}
    assert shared.latency(names) == sqlite.latency(names)
    assert shared.latency(names)["a"]


def test_history_older_than_seven_days_is_dropped(store):
    clock = Clock()
    h = RedisHistory(store, now=clock)
    h.record([result("a", False, T0 - 8 * 86400)])
    h.record([result("a", True, T0 - 3 * 86400)])
    h.record([result("a", True, T0)])
    assert h.uptime(["a"])["a"] == {"1h": 1.0, "24h": 1.0, "7d": 1.0}


def test_redis_down_records_nothing_and_reads_no_figures(closed_port):
    h = RedisHistory(RedisStore(f"redis://127.0.0.1:{closed_port}/0"), now=Clock())
    h.record([result("a", True, T0)])
    assert h.uptime(["a"]) == {"a": {"1h": None, "24h": None, "7d": None}}
    assert h.latency(["a"]) == {"a": []}


STATES = ["up", "up", "up", "degraded", "pending", "down", "down", "maintenance"]


def stated_ms(name, st, at, ms):
    up = st in ("up", "degraded")
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, ms if up else None,
                       f"{st} | detail with  spaces {at}", at, state=st)


def everything(h, names):
    return (h.uptime(names), h.latency(names, 1440), h.states(names), h.failures(names),
            h.changes(names), h.changes(names, since=T0 - 3600), h.recent(names, 30),
            h.current_runs(names), h.coverage(names), h.incidents(names, 7),
            h.incidents(names, 100))


def test_every_read_gives_what_sqlite_gives_through_gaps_and_a_clock_set_back(tmp_path, store):
    clock = Clock(T0 - 9 * 86400)
    kw = {"now": clock, "gap": 200.0, "keep_recent": 5400.0}
    sqlite, shared = ProbeHistory(tmp_path / "h.sqlite3", **kw), RedisHistory(store, **kw)
    rng = random.Random(42)
    names = ["a", "b", "never"]
    at, checks, down = clock.t, 0, False
    while at < T0:
        # mostly a round every 1-3 min in stretches (state runs), sometimes a restart gap of
        # minutes to hours, sometimes a round dated back (a clock set back)
        # (more often right after a failure: an outage whose end nobody saw)
        gap = rng.random() < (0.2 if down else 0.01)
        at += rng.uniform(300, 2e4) if gap else rng.choice([60.5, 121.25, 180.0])
        clock.t = at
        when = at - rng.uniform(1, 400) if rng.random() < 0.02 else at
        rnd = [stated_ms(n, rng.choice(STATES) if rng.random() < 0.1 else "up", when + i / 7,
                      rng.uniform(0.1, 9)) for i, n in enumerate(names[:2])]
        fails = {n: rng.randint(0, 3) for n in names[:2]}
        down = any(r.state == "down" for r in rnd)
        sqlite.record(rnd, fails)
        shared.record(rnd, fails)
        if rng.random() < 0.002 or at >= T0:
            for later in (0, 35, 4000):
                clock.t = at + later
                assert everything(shared, names) == everything(sqlite, names)
                checks += 1
            clock.t = at
    assert checks > 6
    found = shared.incidents(names, 100)
    assert any(i.unobserved_end for i in found) and any(i.end for i in found)
    assert len(shared.changes(names)) > 50 and shared.coverage(names)["a"]["7d"] > 0


def test_memory_stays_bounded_and_every_key_expires_when_no_longer_written(store):
    clock = Clock(T0)
    h = RedisHistory(store, now=clock, gap=30.0, keep_recent=3600)
    c = store.client
    for k in range(3 * 72 * 7):  # three weeks, a round every 20 minutes: every one a new run
        clock.t += 1200
        h.record([stated_ms("a", "down" if k % 2 else "up", clock.t, 1.0)])
    week = 7 * 86400 // 1200
    assert c.zcard(h._key("m", "a")) == c.hlen(h._key("b", "a")) == week + 1
    assert c.zcard(h._key("r", "a")) == c.zcard(h._key("sp", "a")) == week + 1
    assert c.zcard(h._key("c", "a")) == week + 1 and c.zcard(h._key("f", "a")) <= week // 2 + 1
    assert c.zcard(h._key("p", "a")) == 4  # now and 20, 40, 60 min before (kept: >=)
    assert all(0 < c.ttl(h._key(kind, "a")) <= 7 * 86400 + 3600
               for kind in ("b", "m", "s", "c", "p", "r", "f", "sp"))


def test_buckets_written_before_states_are_read_and_extended(store):
    h = RedisHistory(store, now=Clock(T0 + 30))
    minute = int(T0 // 60) - 1  # 4 probes, 3 up, written by the earlier script: 6 fields
    store.client.hset(h._key("b", "a"), str(minute), "4 3 20 3 4 3")
    store.client.zadd(h._key("m", "a"), {str(minute): minute})
    assert h.uptime(["a"])["a"]["1h"] == pytest.approx(3 / 4)
    h.record([stated_ms("a", "maintenance", T0, 1.0), stated_ms("a", "up", T0 + 1, 1.0)])
    assert h.uptime(["a"])["a"]["1h"] == pytest.approx(4 / 5)


def test_redis_down_every_read_is_empty_not_an_error(closed_port):
    h = RedisHistory(RedisStore(f"redis://127.0.0.1:{closed_port}/0"), now=Clock())
    h.record([result("a", True, T0)], {"a": 0})
    assert (h.failures(["a"]), h.states(["a"]), h.changes(["a"])) == ({}, {}, [])
    assert h.recent(["a"], 5) == {"a": []} and h.current_runs(["a"]) == {"a": None}
    assert h.coverage(["a"]) == {"a": {"1h": 0.0, "24h": 0.0, "7d": 0.0}}
    assert h.incidents(["a"], 5) == []


def test_readers_never_see_half_a_round_in_any_read(store):
    h = RedisHistory(store, now=Clock(T0 + 1000), gap=5.0)
    names = [f"s{i}" for i in range(6)]
    done, problems = threading.Event(), []

    def reader():
        while not done.is_set():
            try:
                reads = (h.recent(names, 1), h.current_runs(names), h.states(names),
                         h.failures(names), h.coverage(names), h.latency(names),
                         h.uptime(names), [(i.start, i.probes) for i in h.incidents(names, 6)])
            except Exception as exc:  # any exception is a failure
                problems.append(repr(exc))
                return
            recent, runs, *rest = reads
            # every service alike in a round: a half-written round would differ
            if len({tuple(p.at for p in recent[n]) for n in names}) != 1:
                problems.append(f"recent {recent}")
            if len({runs[n] and (runs[n].start, runs[n].probes) for n in names}) != 1:
                problems.append(f"runs {runs}")
            for got in rest[:-1]:
                if len({repr(got[n]) for n in names if n in got}) > 1:
                    problems.append(f"read {got}")
            if len(set(rest[-1])) > 1:
                problems.append(f"incidents {rest[-1]}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for k in range(150):
        h.record([stated_ms(n, "down" if k % 4 < 2 else "up", T0 + k, 1.0) for n in names],
                 dict.fromkeys(names, k % 4))
    done.set()
    for th in threads:
        th.join()
    assert problems == []
    assert len(h.incidents(names, 1000)) == 6 * 38


def test_states_changes_and_failures_as_sqlite_keeps_them(tmp_path, store):
    # The prober reads failures (retries) and the cards read states and changes: with
    # cache.url set they come from here.
    clock = Clock(T0 + 600)
    sqlite, shared = ProbeHistory(tmp_path / "h.sqlite3", now=clock), RedisHistory(store,
                                                                                   now=clock)
    for i, state in enumerate(["up", "up", "pending", "down", "down", "up"]):
        rnd = [stated("a", state, T0 + i * 10), stated("b", "up", T0 + i * 10)]
        failures = {"a": {"pending": 1, "down": 2 + (i == 4)}.get(state, 0)}
        sqlite.record(rnd, failures=failures)
        shared.record(rnd, failures=failures)
    names = ["a", "b", "c"]
    assert shared.changes(names) == sqlite.changes(names)
    assert shared.changes(["a"], since=T0 + 25) == sqlite.changes(["a"], since=T0 + 25)
    assert shared.states(names) == sqlite.states(names) == {"a": ("up", T0 + 50),
                                                            "b": ("up", T0)}
    shared.record([stated("a", "down", T0 + 60)], failures={"a": 1})
    assert shared.failures(["a", "never"]) == {"a": 1}

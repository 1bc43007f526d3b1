"""The probe history in Redis gives the figures the SQLite history gives, for every replica."""

from __future__ import annotations

import random
import uuid

import pytest

from datasources.history import ProbeHistory
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

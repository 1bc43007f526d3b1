"""Probe history for the cards: raw recent probes, runs, coverage and incidents."""

from __future__ import annotations

from datasources.history import ProbeHistory  # the SQLite-only schema test
from datasources.probes import ProbeResult

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def result(name, up, at, ms=5.0):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, ms if up else None,
                       "connected" if up else "connection refused", at)


def play(history, clock, name, pattern, every=5.0):
    """Record one round per character of ``pattern`` ('u' up, 'd' down), ``every`` s apart."""
    for ch in pattern:
        history.record([result(name, ch == "u", clock.t)])
        clock.t += every


def test_recent_returns_the_last_n_probes_oldest_first(make_history):
    clock = Clock()
    history = make_history(now=clock)
    play(history, clock, "redis", "uuddu")
    got = history.recent(["redis", "nginx"], 3)
    assert [(p.at - T0, p.state, p.latency_ms) for p in got["redis"]] == [
        (10, "down", None), (15, "down", None), (20, "up", 5.0)]
    assert got["redis"][0].detail == "connection refused"
    assert got["nginx"] == []


def test_raw_probes_are_kept_for_the_recent_window_only(make_history):
    clock = Clock()
    history = make_history(now=clock, keep_recent=12)
    play(history, clock, "redis", "uuuu")
    assert [p.at - T0 for p in history.recent(["redis"], 10)["redis"]] == [5, 10, 15]


def test_current_run_says_since_when_a_service_is_down(make_history):
    clock = Clock()
    history = make_history(now=clock)
    play(history, clock, "redis", "uuddd")
    run = history.current_runs(["redis", "nginx"])
    assert (run["redis"].state, run["redis"].start - T0, run["redis"].probes) == ("down", 10, 3)
    assert run["nginx"] is None


def test_coverage_counts_watched_time_not_the_gaps(make_history):
    clock = Clock()
    history = make_history(now=clock, gap=60)
    play(history, clock, "redis", "u" * 13)  # 0..60 s watched
    clock.t += 3600  # stackscope off for an hour
    play(history, clock, "redis", "u" * 7)  # 30 s watched
    clock.t -= 5
    cov = history.coverage(["redis", "nginx"])["redis"]
    assert cov["1h"] == 30  # the first stretch is older than the hour
    assert cov["24h"] == cov["7d"] == 90
    assert history.coverage(["nginx"])["nginx"] == {"1h": 0.0, "24h": 0.0, "7d": 0.0}


def test_incidents_from_the_history_newest_first_and_bounded(make_history):
    clock = Clock()
    history = make_history(now=clock, gap=60)
    play(history, clock, "redis", "uddudddu")
    play(history, clock, "nginx", "dd")
    clock.t -= 5
    found = history.incidents(["redis", "nginx"], 10)
    assert [(i.name, i.start - T0, i.end and i.end - T0, i.ongoing) for i in found] == [
        ("nginx", 40, None, True), ("redis", 20, 35, False), ("redis", 5, 15, False)]
    assert len(history.incidents(["redis", "nginx"], 2)) == 2
    assert history.incidents(["redis"], 10)[0].detail == "connection refused"


def test_an_outage_across_a_restart_gap_is_two_incidents(make_history):
    clock = Clock()
    history = make_history(now=clock, gap=60)
    play(history, clock, "redis", "udd")
    clock.t += 600
    play(history, clock, "redis", "ddu")
    newer, older = history.incidents(["redis"], 10)
    assert older.unobserved_end and newer.end is not None


def test_a_history_of_the_earlier_schema_gains_the_new_tables(tmp_path):
    import sqlite3
    path = tmp_path / "h.sqlite3"
    ProbeHistory(path).uptime(["x"])
    db = sqlite3.connect(path)
    db.execute("DROP TABLE probes")
    db.commit()
    db.close()
    history = ProbeHistory(path, now=Clock())
    history.record([result("x", True, T0)])
    assert len(history.recent(["x"], 5)["x"]) == 1


def test_a_probe_dated_before_the_newest_counts_in_recent_but_not_in_runs_or_spans(
        make_history):
    clock = Clock()
    history = make_history(now=clock, gap=60)
    play(history, clock, "redis", "uuu")  # 0, 5, 10
    history.record([result("redis", False, T0 + 2)])  # a clock set back: a late probe
    assert [(p.at - T0, p.state) for p in history.recent(["redis"], 10)["redis"]] == [
        (0, "up"), (2, "down"), (5, "up"), (10, "up")]
    run = history.current_runs(["redis"])["redis"]
    assert (run.state, run.start - T0, run.last - T0, run.probes) == ("up", 0, 10, 3)
    assert history.incidents(["redis"], 5) == []
    assert history.coverage(["redis"])["redis"]["1h"] == 10
    play(history, clock, "redis", "u")  # the clock goes on from 15
    assert history.current_runs(["redis"])["redis"].last == T0 + 15

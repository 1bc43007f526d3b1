"""Probe history: uptime windows, the sparkline series, 7-day bound, restarts, corruption."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from datasources.history import WINDOWS, ProbeHistory
from datasources.probes import ProbeResult

T0 = 1_800_000_000.0  # a minute boundary
REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def result(name, up, at, ms=5.0):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, ms if up else None,
                       "connected" if up else "connection refused", at)


def test_uptime_over_each_window(make_history):
    clock = Clock()
    h = make_history(now=clock)
    # 2 days ago: down for 10 minutes; last hour: up 30 min, down 30 min.
    for m in range(10):
        h.record([result("a", False, T0 - 2 * 86400 + m * 60)])
    for m in range(60):
        h.record([result("a", m < 30, T0 - 3600 + m * 60 + 1)])
    up = h.uptime(["a", "never-probed"])
    assert up["a"]["1h"] == pytest.approx(0.5)
    assert up["a"]["24h"] == pytest.approx(0.5)
    assert up["a"]["7d"] == pytest.approx(30 / 70)
    assert up["never-probed"] == {"1h": None, "24h": None, "7d": None}


def test_latency_is_a_per_minute_average_over_the_last_hour(make_history):
    clock = Clock(T0 + 59)
    h = make_history(now=clock)
    h.record([result("a", True, T0 - 7200, ms=99)])   # too old for the sparkline
    h.record([result("a", True, T0 - 60, ms=10), result("b", False, T0 - 60)])
    h.record([result("a", True, T0 + 1, ms=4)])
    h.record([result("a", True, T0 + 30, ms=8)])
    assert h.latency(["a", "b"]) == {"a": [(T0 - 60, 10.0), (T0, 6.0)], "b": []}


def test_history_survives_a_restart_and_keeps_seven_days(make_history):
    clock = Clock()
    make_history(now=clock).record([result("a", True, T0 - 8 * 86400)])
    make_history(now=clock).record([result("a", True, T0 - 3 * 86400)])
    clock.t += 1
    h = make_history(now=clock)
    h.record([result("a", False, T0)])
    assert h.uptime(["a"])["a"]["7d"] == pytest.approx(0.5)  # the 8-day-old round is gone


def test_corrupted_history_file_starts_afresh(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"garbage" * 1000)
    h = ProbeHistory(path, now=Clock())
    h.record([result("a", True, T0)])
    assert h.uptime(["a"])["a"]["1h"] == 1.0


def test_vanished_directory_is_recreated(tmp_path):
    h = ProbeHistory(tmp_path / "gone" / "h.sqlite3", now=Clock())
    h.record([result("a", True, T0)])
    assert h.uptime(["a"])["a"]["1h"] == 1.0


# --- running totals: the same figures as the raw probes give ------------------------------------

DAY = 86400
WEEK = 7 * DAY


def synthetic_week(end: float) -> list[list[ProbeResult]]:
    """Rounds over a week and an hour before ``end``, as a real history has them.

    Irregular spacing (bursts several to a minute, minutes with none), a 5-hour hole (the app was
    down), a service added halfway, latencies whose sums round, and late rounds dated up to an
    hour back (a clock set back), which must count in every later total too.
    """
    rng = random.Random(20261201)
    rounds, t = [], end - WEEK - 3600
    while t < end:
        if end - 4 * DAY < t < end - 4 * DAY + 5 * 3600:
            t += 5 * 3600
        names = ["a", "b"] + (["c"] if t > end - 3 * DAY else [])
        at = t - rng.uniform(60, 3600) if rng.random() < 0.02 else t
        rounds.append([result(n, rng.random() > 0.05 * (i + 1), at + rng.random(),
                              ms=rng.uniform(0.1, 50)) for i, n in enumerate(names)])
        t += rng.choice([2, 5, 60, 170, 400])
    return rounds


def raw_figures(recorded: list[ProbeResult], last_write: float, now: float, names):
    """What the raw probes say: every figure computed from the probe results themselves."""
    horizon = (last_write - WEEK) // 60
    kept = [r for r in recorded if r.checked_at // 60 >= horizon]
    uptime = {}
    for name in names:
        mine = [r for r in kept if r.name == name]
        uptime[name] = {}
        for label, seconds in WINDOWS.items():
            inside = [r.up for r in mine if r.checked_at // 60 >= (now - seconds) // 60]
            uptime[name][label] = sum(inside) / len(inside) if inside else None
    latency = {name: [] for name in names}
    for name in names:
        minutes = sorted({r.checked_at // 60 for r in kept if r.name == name
                          and r.checked_at // 60 >= now // 60 - 59 and r.latency_ms is not None})
        for m in minutes:
            ms = [r.latency_ms for r in kept if r.name == name and r.checked_at // 60 == m
                  and r.latency_ms is not None]
            latency[name].append((int(m) * 60, sum(ms) / len(ms)))
    return uptime, latency


def test_running_totals_give_exactly_the_raw_figures_over_a_week(make_history):
    end = T0
    clock = Clock(end - WEEK - 3600)
    h = make_history(now=clock)
    names = ["a", "b", "c", "never-probed"]
    recorded, checks = [], 0
    for i, rnd in enumerate(synthetic_week(end)):
        clock.t = max(clock.t, rnd[0].checked_at)
        h.record(rnd)
        recorded += rnd
        if i % 400 == 0 or i == len(recorded) - 1:
            last_write = clock.t
            for later in (0, 31, 7200):
                clock.t = last_write + later
                assert (h.uptime(names), h.latency(names)) == raw_figures(
                    recorded, last_write, clock.t, names)
                checks += 1
            clock.t = last_write
    assert checks > 20


def test_late_rounds_count_in_every_window(make_history):
    clock = Clock(T0)
    h = make_history(now=clock)
    h.record([result("a", True, T0 - 60)])
    h.record([result("a", True, T0)])
    h.record([result("a", False, T0 - 600)])  # late: before both
    h.record([result("a", False, T0 - 30)])   # late: between them
    assert h.uptime(["a"])["a"] == {"1h": 0.5, "24h": 0.5, "7d": 0.5}
    clock.t = T0 + 3600 - 300  # the 1-hour window now starts after the round dated T0 - 600
    assert h.uptime(["a"])["a"]["1h"] == pytest.approx(2 / 3)


# --- concurrency: readers take no lock and never see half a round -------------------------------

def test_readers_beside_a_writer_see_whole_rounds_and_never_fail(make_history):
    clock = Clock()
    h = make_history(now=clock)
    names = [f"s{i}" for i in range(8)]

    def round_(k):  # every service alike in a round: a half-written round would show
        return [result(n, k % 3 != 0, T0 - 3000 + k, ms=float(k)) for n in names]

    valid = {sum(j % 3 != 0 for j in range(k)) / k for k in range(1, 402)}
    h.record(round_(0))
    done, problems, reads = threading.Event(), [], [0]

    def reader():
        while not done.is_set():
            try:
                up, lat = h.uptime(names), h.latency(names)
            except Exception as exc:  # any exception is a failure
                problems.append(repr(exc))
                return
            figures = {up[n]["1h"] for n in names}
            if len(figures) != 1 or None in figures or not figures <= valid:
                problems.append(f"uptime {up}")
            if any(lat[n] != lat[names[0]] for n in names):
                problems.append(f"latency {lat}")
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for th in threads:
        th.start()
    for k in range(1, 401):
        h.record(round_(k))
    done.set()
    for th in threads:
        th.join()
    assert problems == []
    assert reads[0] > 0
    assert h.uptime(names)["s0"]["1h"] == sum(k % 3 != 0 for k in range(401)) / 401


def test_a_write_held_open_elsewhere_neither_blocks_nor_shows_to_readers(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = ProbeHistory(path, now=Clock())
    h.record([result("a", True, T0)])
    other = sqlite3.connect(path, isolation_level=None)
    try:
        # Another process mid-round, holding the write lock, its round not yet committed.
        other.execute("BEGIN EXCLUSIVE")
        other.execute("UPDATE minutes SET up = 0, up_total = 0")
        assert h.uptime(["a"])["a"] == {"1h": 1.0, "24h": 1.0, "7d": 1.0}
        assert h.latency(["a"])["a"] == [(T0, 5.0)]
    finally:
        other.close()


# --- restarts, migration, size -------------------------------------------------------------------

def test_rounds_recorded_by_another_process_are_read_after_it_exits(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = ProbeHistory(path, now=Clock(T0))
    h.record([result("a", False, T0 - 120)])
    script = (
        "import sys\n"
        "from datasources.history import ProbeHistory\n"
        "from datasources.probes import ProbeResult\n"
        f"h = ProbeHistory(sys.argv[1], now=lambda: {T0})\n"
        f"for k in range(3):\n"
        f"    h.record([ProbeResult('a', 'tcp', 't', '', True, 2.0, 'connected', {T0} + k)])\n"
        "import os; os._exit(0)\n"  # no clean close: the rounds live in the WAL file
    )
    subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO, check=True)
    assert h.uptime(["a"])["a"]["1h"] == 0.75
    assert ProbeHistory(path, now=Clock(T0)).latency(["a"])["a"] == [(T0, 2.0)]


OLD_SCHEMA = """
CREATE TABLE buckets (
    name TEXT NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, up INTEGER NOT NULL,
    latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL, PRIMARY KEY (name, minute)
) WITHOUT ROWID
"""
OLD_UPSERT = """
INSERT INTO buckets VALUES (?, ?, 1, ?, ?, ?)
ON CONFLICT (name, minute) DO UPDATE SET n = n + 1, up = up + excluded.up,
    latency_sum = latency_sum + excluded.latency_sum, latency_n = latency_n + excluded.latency_n
"""


def old_uptime(db, now, names):
    """The first schema's own query: sums over every bucket of each window."""
    out = {n: dict.fromkeys(WINDOWS) for n in names}
    for label, seconds in WINDOWS.items():
        for name, up, n in db.execute("SELECT name, SUM(up), SUM(n) FROM buckets "
                                      "WHERE minute >= ? GROUP BY name",
                                      ((now - seconds) // 60,)):
            out[name][label] = up / n
    return out


def test_a_history_in_the_first_schema_is_converted_whole_on_first_start(tmp_path):
    path = tmp_path / "h.sqlite3"
    old = sqlite3.connect(path)
    rounds = synthetic_week(T0)
    with old:
        old.execute(OLD_SCHEMA)
        old.executemany(OLD_UPSERT, [(r.name, int(r.checked_at // 60), int(r.up),
                                      r.latency_ms or 0.0, int(r.latency_ms is not None))
                                     for rnd in rounds for r in rnd])
    buckets = sorted(old.execute("SELECT * FROM buckets"))
    names = ["a", "b", "c"]
    expected = old_uptime(old, T0, names)
    old.close()

    clock = Clock(T0)
    h = ProbeHistory(path, now=clock)
    assert h.uptime(names) == expected
    assert h.uptime(names) == raw_figures([r for rnd in rounds for r in rnd], T0, T0, names)[0]
    db = sqlite3.connect(path)
    assert sorted(db.execute(
        "SELECT name, minute, n, up, latency_sum, latency_n FROM minutes")) == buckets
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'buckets'").fetchall() == []
    db.close()
    # Later rounds add to the converted totals.
    h.record([result("a", False, T0 + 1), result("a", False, T0 + 2)])
    recorded = [r for rnd in rounds for r in rnd] + [result("a", False, T0 + 1),
                                                     result("a", False, T0 + 2)]
    assert ProbeHistory(path, now=clock).uptime(names) == raw_figures(
        recorded, T0, T0, names)[0]


def test_size_stays_bounded_to_seven_days(tmp_path):
    clock = Clock(T0)
    path = tmp_path / "h.sqlite3"
    h = ProbeHistory(path, now=clock)

    def fill(days, names):  # a round every 20 minutes
        for _ in range(days * 72):
            clock.t += 1200
            h.record([result(n, True, clock.t) for n in names])

    def size():  # the WAL copied into the file first, as SQLite does every 1 000 pages
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return path.stat().st_size

    fill(7, ["a", "b", "retired"])
    fill(7, ["a", "b"])
    after_two_weeks = size()
    fill(14, ["a", "b"])
    db = sqlite3.connect(path)
    counts = dict(db.execute("SELECT name, COUNT(*) FROM minutes GROUP BY name"))
    db.close()
    assert counts == {"a": 7 * 72 + 1, "b": 7 * 72 + 1}  # "retired" is gone entirely
    assert size() <= after_two_weeks  # freed pages are reused: the file does not grow


def test_a_history_file_deleted_while_running_is_recreated(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = ProbeHistory(path, now=Clock())
    h.record([result("a", False, T0)])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    h.record([result("a", True, T0)])
    assert h.uptime(["a"])["a"]["1h"] == 1.0
    assert ProbeHistory(path, now=Clock()).uptime(["a"])["a"]["1h"] == 1.0


# --- states: maintenance left out of uptime, pending not up, changes kept ------------------------

def stated(name, state, at):
    up = state in ("up", "degraded")
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, 5.0 if up else None, state,
                       at, state=state)


def test_maintenance_is_left_out_of_uptime_and_pending_is_not_up(make_history):
    h = make_history(now=Clock(T0 + 3599))
    states = ["up"] * 6 + ["maintenance"] * 10 + ["pending", "down"] + ["degraded"] * 2
    for i, state in enumerate(states):
        h.record([stated("a", state, T0 + i * 60)])
    h.record([stated("m", "maintenance", T0)])
    up = h.uptime(["a", "m"])
    # 10 probes counted: 6 up and 2 degraded are up; pending and down are not.
    assert up["a"]["1h"] == pytest.approx(8 / 10)
    assert up["m"] == {"1h": None, "24h": None, "7d": None}  # only maintenance: no figure


def test_each_change_of_state_is_kept_with_its_detail_and_the_state_since_when(make_history):
    h = make_history(now=Clock(T0 + 600))
    for i, state in enumerate(["up", "up", "pending", "down", "down", "up"]):
        h.record([stated("a", state, T0 + i * 10), stated("b", "up", T0 + i * 10)],
                 failures={"a": {"pending": 1, "down": 2 + (i == 4)}.get(state, 0)})
    assert h.changes(["a", "b"]) == [
        ("a", T0, "up", "up"), ("b", T0, "up", "up"), ("a", T0 + 20, "pending", "pending"),
        ("a", T0 + 30, "down", "down"), ("a", T0 + 50, "up", "up")]
    assert h.changes(["a"], since=T0 + 25) == [("a", T0 + 30, "down", "down"),
                                               ("a", T0 + 50, "up", "up")]
    assert h.states(["a", "b", "c"]) == {"a": ("up", T0 + 50), "b": ("up", T0)}
    assert h.failures(["a"]) == {"a": 0}
    h.record([stated("a", "down", T0 + 60)], failures={"a": 1})
    assert h.failures(["a", "never"]) == {"a": 1}


def test_changes_older_than_seven_days_are_dropped(make_history):
    clock = Clock(T0)
    h = make_history(now=clock)
    h.record([stated("a", "down", T0)])
    clock.t = T0 + 7 * 86400 + 1
    h.record([stated("a", "up", clock.t)])
    assert h.changes(["a"]) == [("a", clock.t, "up", "up")]


def test_a_history_in_the_running_totals_schema_gains_states_in_place(tmp_path):
    path = tmp_path / "h.sqlite3"
    v1 = sqlite3.connect(path)
    with v1:
        v1.execute("""CREATE TABLE minutes (
            name TEXT NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL,
            up INTEGER NOT NULL, latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL,
            n_total INTEGER NOT NULL, up_total INTEGER NOT NULL, PRIMARY KEY (name, minute)
        ) WITHOUT ROWID""")
        v1.execute("CREATE INDEX minutes_by_minute ON minutes (minute)")
        # 4 probes, 3 up, in the minute before T0
        v1.execute("INSERT INTO minutes VALUES ('a', ?, 4, 3, 20.0, 3, 4, 3)", (T0 // 60 - 1,))
        v1.execute("PRAGMA user_version = 1")
    v1.close()
    h = ProbeHistory(path, now=Clock(T0 + 30))
    assert h.uptime(["a"])["a"]["1h"] == pytest.approx(3 / 4)
    h.record([stated("a", "maintenance", T0), stated("a", "up", T0 + 1)])
    assert h.uptime(["a"])["a"]["1h"] == pytest.approx(4 / 5)
    assert h.states(["a"]) == {"a": ("up", T0 + 1)}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (2,)
    db.close()

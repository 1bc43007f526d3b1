"""Probe history: uptime windows, the sparkline series, 7-day bound, restarts, corruption."""

from __future__ import annotations

import pytest

from datasources.history import ProbeHistory
from datasources.probes import ProbeResult

T0 = 1_800_000_000.0  # a minute boundary


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def result(name, up, at, ms=5.0):
    return ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, ms if up else None,
                       "connected" if up else "connection refused", at)


def test_uptime_over_each_window(tmp_path):
    clock = Clock()
    h = ProbeHistory(tmp_path / "h.sqlite3", now=clock)
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


def test_latency_is_a_per_minute_average_over_the_last_hour(tmp_path):
    clock = Clock(T0 + 59)
    h = ProbeHistory(tmp_path / "h.sqlite3", now=clock)
    h.record([result("a", True, T0 - 7200, ms=99)])   # too old for the sparkline
    h.record([result("a", True, T0 - 60, ms=10), result("b", False, T0 - 60)])
    h.record([result("a", True, T0 + 1, ms=4)])
    h.record([result("a", True, T0 + 30, ms=8)])
    assert h.latency(["a", "b"]) == {"a": [(T0 - 60, 10.0), (T0, 6.0)], "b": []}


def test_history_survives_a_restart_and_keeps_seven_days(tmp_path):
    clock = Clock()
    path = tmp_path / "h.sqlite3"
    ProbeHistory(path, now=clock).record([result("a", True, T0 - 8 * 86400)])
    ProbeHistory(path, now=clock).record([result("a", True, T0 - 3 * 86400)])
    clock.t += 1
    h = ProbeHistory(path, now=clock)
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

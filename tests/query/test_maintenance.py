"""Maintenance windows: the cron dialect, durations, ISO times, and when a window is active."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from query.maintenance import (
    fire_times,
    in_maintenance,
    parse_cron,
    parse_duration,
    parse_time,
    window,
)


def at(text: str) -> float:
    """Epoch seconds of a UTC time written "2026-12-06 03:00"."""
    return calendar.timegm(dt.datetime.strptime(text, "%Y-%m-%d %H:%M").timetuple())


# 2026-12-06 is a Sunday.
@pytest.mark.parametrize(("line", "time", "fires"), [
    ("0 3 * * sun", "2026-12-06 03:00", True),
    ("0 3 * * sun", "2026-12-06 03:01", False),
    ("0 3 * * sun", "2026-12-07 03:00", False),   # Monday
    ("0 3 * * 0", "2026-12-06 03:00", True),
    ("0 3 * * 7", "2026-12-06 03:00", True),      # 7 is Sunday too
    ("*/15 * * * *", "2026-12-06 10:45", True),
    ("*/15 * * * *", "2026-12-06 10:46", False),
    ("5/20 * * * *", "2026-12-06 10:45", True),   # 5, 25, 45
    ("0 9-17/4 * * *", "2026-12-06 13:00", True),  # 9, 13, 17
    ("0 9-17/4 * * *", "2026-12-06 11:00", False),
    ("30 2 1,15 * *", "2026-12-15 02:30", True),
    ("0 0 * dec *", "2026-12-25 00:00", True),
    ("0 0 * JAN *", "2026-12-25 00:00", False),
    ("0 4 * * mon-fri", "2026-12-08 04:00", True),
    ("0 4 * * mon-fri", "2026-12-06 04:00", False),
    # Both day fields restricted: either may match (Vixie cron).
    ("0 0 13 * fri", "2026-12-13 00:00", True),   # the 13th, a Sunday
    ("0 0 13 * fri", "2026-12-11 00:00", True),   # a Friday
    ("0 0 13 * fri", "2026-12-12 00:00", False),
    ("@daily", "2026-12-06 00:00", True),
    ("@weekly", "2026-12-06 00:00", True),
    ("@hourly", "2026-12-06 07:00", True),
])
def test_cron_lines_fire_where_cron_would(line, time, fires):
    assert parse_cron(line).matches(at(time)) is fires


@pytest.mark.parametrize(("line", "problem"), [
    ("0 3 * *", "needs 5 fields"),
    ("60 * * * *", "minute: '60' is not a number from 0 to 59"),
    ("* 24 * * *", "hour: '24' is not a number from 0 to 23"),
    ("* * 0 * *", "day of month: '0' is not a number from 1 to 31"),
    ("* * * * funday", "day of week: 'funday' is not a number from 0 to 7 or a name"),
    ("5-1 * * * *", "runs backwards"),
    ("*/0 * * * *", "'0' is not a number"),
    ("@sometimes", "needs 5 fields"),
])
def test_bad_cron_lines_say_what_is_wrong(line, problem):
    with pytest.raises(ValueError, match=problem):
        parse_cron(line)


@pytest.mark.parametrize(("text", "seconds"), [
    ("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("1d", 86400), ("7d", 7 * 86400),
    ("1m", 60),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 hours", "h", "30s", "8d", "-1h"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_times_without_an_offset_are_utc():
    assert parse_time("2026-12-06T03:00:00Z") == at("2026-12-06 03:00")
    assert parse_time("2026-12-06T03:00") == at("2026-12-06 03:00")
    assert parse_time("2026-12-06T04:00:00+01:00") == at("2026-12-06 03:00")
    assert parse_time(dt.datetime(2026, 12, 6, 3, 0)) == at("2026-12-06 03:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("next sunday")


def test_a_recurring_window_covers_its_duration_from_each_start():
    w = window("db", cron="0 3 * * sun", duration="2h")
    assert not w.active(at("2026-12-06 02:59"))
    assert w.active(at("2026-12-06 03:00"))
    assert w.active(at("2026-12-06 04:59") + 59)
    assert not w.active(at("2026-12-06 05:00"))
    assert not w.active(at("2026-12-13 02:00"))


def test_a_recurring_window_runs_across_midnight():
    w = window(cron="30 23 * * *", duration="1h")
    assert w.active(at("2026-12-07 00:15"))
    assert not w.active(at("2026-12-07 00:30"))


def test_a_one_off_window_is_half_open():
    w = window(start="2026-12-06T03:00:00Z", end="2026-12-06T04:00:00Z")
    assert [w.active(at(t)) for t in ("2026-12-06 02:59", "2026-12-06 03:00",
                                      "2026-12-06 03:59", "2026-12-06 04:00")] == [
        False, True, True, False]


def test_windows_apply_to_their_service_or_every_one():
    windows = [window("db", start="2026-12-06T03:00", end="2026-12-06T04:00", reason="upgrade"),
               window("*", cron="0 5 * * *", duration="10m")]
    assert in_maintenance(windows, "db", at("2026-12-06 03:30")).reason == "upgrade"
    assert in_maintenance(windows, "web", at("2026-12-06 03:30")) is None
    assert in_maintenance(windows, "web", at("2026-12-06 05:05")) is windows[1]


def test_a_weeks_look_back_lists_only_matching_minutes():
    starts = list(fire_times(parse_cron("0 3 * * sun"), at("2026-11-29 03:00"),
                             at("2026-12-06 03:00")))
    assert starts == [at("2026-12-06 03:00")]  # (since, until]: the first one is excluded
    every = list(fire_times(parse_cron("* * * * *"), at("2026-12-06 00:00"),
                            at("2026-12-07 00:00")))
    assert len(every) == 1440

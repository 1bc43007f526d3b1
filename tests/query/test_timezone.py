"""The charts' time zone: names checked on the server, times moved onto a zone's clock and
back, daylight-saving changes included."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from query import timezone as tz
from query.limits import Rejected

PARIS = "Europe/Paris"
#: Europe/Paris leaves winter time (UTC+1) for summer time (UTC+2) at 01:00 UTC that day
SPRING = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
HOUR_MS = 3_600_000


@pytest.mark.parametrize("name", [None, "", "UTC", "  "])
def test_no_zone_is_utc(name):
    assert tz.chosen(name) == ("UTC", None)


@pytest.mark.parametrize("name", ["Europe/Paris", "America/Argentina/Buenos_Aires",
                                  "Asia/Kolkata", "Etc/GMT+5"])
def test_a_known_zone_is_used(name):
    assert tz.chosen(name) == (name, None)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime",
                                  "Europe/Paris\x00", "Europe//Paris", "<b>x</b>"])
def test_an_unknown_zone_draws_in_utc_and_says_so(name):
    zone, note = tz.chosen(name)
    assert zone == "UTC"
    assert "unknown to this server's zone database" in note and "UTC" in note


@pytest.mark.parametrize("name", [123, ["Europe/Paris"], {"a": 1}, "A" * 65])
def test_a_forged_zone_value_is_refused(name):
    with pytest.raises(Rejected):
        tz.chosen(name)


def test_wall_clock_follows_daylight_saving_on_either_side_of_the_change():
    ms = np.array([SPRING - 60, SPRING, SPRING + 60]) * 1000
    moved = tz.wall_ms(ms, PARIS) - ms
    assert moved.tolist() == [HOUR_MS, 2 * HOUR_MS, 2 * HOUR_MS]


def test_wall_clock_keeps_gaps_and_leaves_utc_alone():
    ms = np.array([1.7e12, np.nan, 1.7e12 + 500.5])
    moved = tz.wall_ms(ms, "Asia/Kolkata")
    assert np.isnan(moved[1]) and moved[2] - ms[2] == 5.5 * HOUR_MS
    assert tz.wall_ms(ms, "UTC") is not None and np.array_equal(
        tz.wall_ms(ms, "UTC"), ms, equal_nan=True)


def test_a_wall_time_reads_back_as_its_instant():
    # 02:30 on the spring day does not exist in Paris: read with the winter offset (fold=0).
    assert tz.from_wall(datetime(2026, 3, 29, 3, 30), PARIS) == SPRING + 1800
    assert tz.from_wall(datetime(2026, 3, 29, 2, 30), PARIS) == SPRING + 1800
    assert tz.from_wall(datetime(2026, 3, 29, 1, 30), PARIS) == SPRING - 1800


@given(st.floats(min_value=0, max_value=4.1e9, allow_nan=False),
       st.sampled_from([PARIS, "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                        "America/St_Johns", "UTC"]))
def test_wall_and_back_is_the_same_instant_outside_repeated_hours(epoch, zone):
    wall_ms = tz.wall_of(epoch, zone)
    wall = datetime.fromtimestamp(wall_ms / 1000, UTC).replace(tzinfo=None)
    back = tz.from_wall(wall, zone)
    # A time in the hour a change to winter time repeats reads as its first occurrence.
    assert back == pytest.approx(epoch, abs=1e-3) or round(epoch - back, 3) in (1800, 3600)
    assert tz.wall_text(epoch, zone) == wall.strftime("%Y-%m-%d %H:%M:%S")


def test_offsets_are_named_with_hours_and_minutes():
    assert tz.offset_text(SPRING, PARIS) == "UTC+02:00"
    assert tz.offset_text(SPRING - 1, PARIS) == "UTC+01:00"
    assert tz.offset_text(SPRING, "America/St_Johns") == "UTC-02:30"
    assert tz.offset_text(SPRING, "UTC") == "UTC"

"""The charts' time zone: names checked on the server, times moved onto a zone's clock and
back, daylight-saving changes included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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


@pytest.mark.parametrize("value", [123, ["Europe/Paris"], "A" * 65, {"zone": 5},
                                   {"zone": "UTC", "browser": ["x"]}, {"zone": "A" * 65}])
def test_a_forged_zone_value_is_refused(value):
    with pytest.raises(Rejected):
        tz.chosen(value)
        tz.browser(value)


def test_the_store_names_the_zone_shown_and_the_browsers_own():
    store = {"zone": "UTC", "browser": "America/St_Johns"}
    assert (tz.checked(store), tz.browser(store)) == ("UTC", "America/St_Johns")
    assert tz.browser({"zone": PARIS, "browser": "Mars/Base"}) == "UTC"  # unknown: as UTC
    assert (tz.checked(PARIS), tz.browser(PARIS)) == (PARIS, "UTC")  # a bare name is shown
    assert (tz.checked(None), tz.browser(None)) == ("UTC", "UTC")


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


def test_what_is_sent_shows_the_zones_reading_on_the_browsers_clock():
    ms = np.array([SPRING - 86400, SPRING + 86400]) * 1000
    # plotly shows milliseconds on the browser's clock: its own zone is sent as it is
    assert np.array_equal(tz.shown_ms(ms, PARIS, PARIS), ms)
    # UTC in Newfoundland (UTC-02:30 in summer, -03:30 in winter): later by the offset
    sent = tz.shown_ms(ms, "UTC", "America/St_Johns") - ms
    assert sent.tolist() == [2.5 * HOUR_MS, 2.5 * HOUR_MS]
    assert (tz.shown_ms(ms, "Asia/Kolkata", "UTC") - ms).tolist() == [5.5 * HOUR_MS] * 2


def test_a_reading_the_browsers_clock_skips_moves_to_the_end_of_the_skipped_hour():
    # 01:30 UTC on the spring day reads 01:30 in UTC; a Paris clock goes 01:59 → 03:00 local
    # an hour later, so 02:30 UTC (02:30 to show) is sent as 03:00 Paris.
    at = datetime(2026, 3, 29, 2, 30, tzinfo=UTC).timestamp() * 1000
    sent = tz.shown_ms(np.array([at]), "UTC", PARIS)[0]
    assert datetime.fromtimestamp(sent / 1000, ZoneInfo(PARIS)).strftime("%H:%M") == "03:00"


@given(st.floats(min_value=0, max_value=4.1e9, allow_nan=False),
       st.sampled_from(["UTC", PARIS, "Asia/Kolkata", "America/St_Johns"]),
       st.sampled_from(["UTC", PARIS, "America/New_York", "Australia/Lord_Howe"]))
def test_the_browser_reads_the_zones_clock_from_what_is_sent(epoch, zone, browser):
    sent = tz.shown_ms(np.array([epoch * 1000]), zone, browser)[0] / 1000
    read = datetime.fromtimestamp(sent, tz.zone_info(browser)).replace(tzinfo=None)
    wanted = datetime.fromtimestamp(epoch, tz.zone_info(zone)).replace(tzinfo=None)
    # To the millisecond (float milliseconds), but for a reading the browser's clock skips
    # (moved to the skipped hour's end).
    gap = read - wanted
    assert abs(gap) < timedelta(milliseconds=1) or timedelta(0) < gap <= timedelta(hours=1)


def test_offsets_are_named_with_hours_and_minutes():
    assert tz.offset_text(SPRING, PARIS) == "UTC+02:00"
    assert tz.offset_text(SPRING - 1, PARIS) == "UTC+01:00"
    assert tz.offset_text(SPRING, "America/St_Johns") == "UTC-02:30"
    assert tz.offset_text(SPRING, "UTC") == "UTC"

"""Time ranges and query steps: pure, parametrized."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from query import timerange as tr

NOW = 1_795_351_237.4  # not aligned to anything on purpose
NOWS = [NOW, 1_700_000_000.0, 1_700_003_599.999]
H, D = 3600, 86400


@pytest.mark.parametrize("text, ago", [
    ("now", 0), ("now-30s", 30), ("now-5m", 300), ("now-15m", 900), ("now-1h", H),
    ("now-6h", 6 * H), ("now-24h", D), ("now-7d", 7 * D), ("now-30d", 30 * D),
    ("now-2w", 14 * D), ("now-90m", 5400), (" now - 1h ", H),
])
def test_relative_times_count_back_from_now(text, ago):
    assert tr.resolve_one(text, NOW) == NOW - ago


@pytest.mark.parametrize("text, which, expected", [
    ("now/d", "from", datetime(2026, 12, 2, tzinfo=UTC)),
    ("now/d", "to", datetime(2026, 12, 2, 23, 59, 59, 999000, tzinfo=UTC)),
    ("now-7d/d", "from", datetime(2026, 11, 25, tzinfo=UTC)),
    ("now-1h/h", "from", datetime(2026, 12, 2, 14, tzinfo=UTC)),
    ("now/w", "from", datetime(2026, 11, 30, tzinfo=UTC)),  # ISO weeks start on Monday
    ("now/w", "to", datetime(2026, 12, 6, 23, 59, 59, 999000, tzinfo=UTC)),
    ("now/M", "from", datetime(2026, 12, 1, tzinfo=UTC)),
    ("now/M", "to", datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ("now/y", "from", datetime(2026, 1, 1, tzinfo=UTC)),
    ("now - 2d / d", "from", datetime(2026, 11, 30, tzinfo=UTC)),
])
def test_rounded_relative_times_snap_like_grafanas(text, which, expected):
    now = datetime(2026, 12, 2, 15, 30, 12, tzinfo=UTC).timestamp()
    assert tr.resolve_one(text, now, which) == pytest.approx(expected.timestamp())


def test_a_week_snaps_to_monday_on_every_day_of_it():
    monday = datetime(2024, 4, 29, tzinfo=UTC).timestamp()
    for day in range(7):
        now = monday + day * D + 12 * H
        assert tr.resolve_one("now/w", now, "from") == monday


def test_epoch_milliseconds_as_in_grafana_urls():
    assert tr.resolve("1700000000000", "1700003600500", NOW) == (1_700_000_000.0, 1_700_003_600.5)


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),  # naive means UTC
    ("2024-01-01 12:30", datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),
    ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01T02:00:00+02:00", datetime(2024, 1, 1, tzinfo=UTC)),
])
def test_iso_times(text, expected):
    assert tr.resolve_one(text, NOW) == expected.timestamp()


@pytest.mark.parametrize("frm, to, message", [
    ("now-5x", "now", "from 'now-5x' is not"),
    ("yesterday", "now", "from 'yesterday' is not"),
    ("now-1h", "soon", "to 'soon' is not"),
    ("", "now", "from '' is not"),
    ("now", "now-1h", "'from' ('now') must be before 'to' ('now-1h')"),
    ("now", "now", "must be before"),
])
def test_bad_ranges_say_which_end_and_why(frm, to, message):
    with pytest.raises(ValueError) as info:
        tr.resolve(frm, to, NOW)
    assert message in str(info.value)


def test_presets_are_the_seven_relative_ranges():
    assert [frm for _, frm in tr.PRESETS] == [
        "now-5m", "now-15m", "now-1h", "now-6h", "now-24h", "now-7d", "now-30d"]
    assert all(label.startswith("Last ") for label, _ in tr.PRESETS)
    assert all(tr.is_relative(frm, "now") for _, frm in tr.PRESETS)


@pytest.mark.parametrize("frm, to, relative", [
    ("now-1h", "now", True), ("now-2d", "now-1d", True),
    ("1700000000000", "now", False), ("now-1h", "2024-01-01", False),
    ("now-7d/d", "now", True), ("now/d", "now/d", True),
])
def test_only_ranges_following_the_clock_are_relative(frm, to, relative):
    assert tr.is_relative(frm, to) is relative


@pytest.mark.parametrize("now", NOWS)
@pytest.mark.parametrize("span, step", [(H, 5), (7 * D, 900), (30 * D, H)])
def test_plan_at_1h_7d_30d_gives_friendly_step_aligned_bounds(now, span, step):
    window = tr.plan(now - span, now, max_data_points=1000)
    assert window.step == step
    assert window.start % step == 0 and window.end % step == 0
    assert window.start <= now - span < window.start + step
    # The end is the last step boundary not after now: no point is evaluated in the future.
    assert window.end <= now < window.end + step
    assert window.points <= 1001


@pytest.mark.parametrize("span", [1, 59, 300, H, 6 * H, D, 7 * D, 30 * D, 365 * D, 3650 * D])
@pytest.mark.parametrize("max_points", [1, 11, 200, 1000, 1920, 11_000, 50_000])
def test_points_never_exceed_max_data_points_plus_one_nor_11000(span, max_points):
    window = tr.plan(NOW - span, NOW, max_data_points=max_points)
    assert window.points <= max_points + 1
    assert window.points < tr.MAX_POINTS
    assert window.step in tr.FRIENDLY_STEPS or window.step % D == 0


@pytest.mark.parametrize("wanted, friendly", [
    (0.3, 0.5), (1, 1), (1.01, 2), (7, 10), (14, 15), (16, 30), (31, 60), (61, 120),
    (299, 300), (601, 900), (1801, H), (2.5 * H, 3 * H), (7 * H, 12 * H), (13 * H, D),
    (D + 1, 2 * D), (3 * D, 7 * D), (8 * D + 5, 9 * D),
])
def test_steps_round_up_to_friendly_values(wanted, friendly):
    assert tr.friendly_step(wanted) == friendly


def test_min_step_is_respected_and_rounded_up():
    assert tr.plan(NOW - 300, NOW, min_step=15).step == 15
    assert tr.plan(NOW - 300, NOW, min_step=7).step == 10


@pytest.mark.parametrize("span", [H, 7 * D, 30 * D])
def test_a_moving_now_keeps_the_same_window_within_a_step(span):
    first = tr.plan(1_700_000_000.5 - span, 1_700_000_000.5)
    later = tr.plan(1_700_000_000.5 - span + 1.5, 1_700_000_000.5 + 1.5)
    assert first == later


def test_plan_rejects_an_end_before_its_start():
    with pytest.raises(ValueError, match="before start"):
        tr.plan(NOW, NOW - 1)


@pytest.mark.parametrize("step, scrape, interval", [
    (1, 15, "1m"), (15, 15, "1m"), (60, 15, "75s"), (300, 15, "315s"), (H, 60, "61m"),
    (5, 1, "6s"),
])
def test_rate_interval_is_max_of_step_plus_scrape_and_four_scrapes(step, scrape, interval):
    assert tr.rate_interval(step, scrape) == interval


@pytest.mark.parametrize("seconds, text", [
    (300, "5m"), (90, "90s"), (H, "1h"), (D, "1d"), (7 * D, "1w"), (0.5, "500ms"), (1, "1s"),
    (36 * H, "36h"),
])
def test_format_duration_uses_the_largest_whole_unit(seconds, text):
    assert tr.format_duration(seconds) == text
    assert tr.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [0, -5])
def test_format_duration_rejects_non_positive(bad):
    with pytest.raises(ValueError):
        tr.format_duration(bad)


@pytest.mark.parametrize("bad", ["", "5", "5 m", "m5", "1h30", "abc"])
def test_parse_duration_rejects_malformed(bad):
    with pytest.raises(ValueError, match="not a duration"):
        tr.parse_duration(bad)


def test_parse_duration_adds_up_compound_durations():
    assert tr.parse_duration("1h30m") == 5400
    assert tr.parse_duration("250ms") == 0.25


@pytest.mark.parametrize("text", ["1714564800", "1714564800000", "1714564800000000",
                                  "1714564800000000000"])
def test_epoch_numbers_mean_the_same_instant_in_urls_and_on_the_command_line(text):
    # One rule by digit count: seconds as people type them, milliseconds as Grafana's URLs.
    assert tr.resolve_one(text, NOW) == 1714564800.0
    assert tr.parse_time_ns(text, NOW) == 1714564800 * 10**9


@pytest.mark.parametrize(("seconds", "text", "whole"), [
    (0.5, "0.5s", "0s"), (59, "59s", "59s"), (90, "1.5m", "1m"), (300, "5m", "5m"),
    (7300, "2.03h", "2h"), (77400, "21.5h", "21h"), (3 * 86400, "3d", "3d"),
])
def test_one_human_duration_format_in_promql_units(seconds, text, whole):
    assert tr.human_duration(seconds) == text
    assert tr.human_duration(seconds, whole=True) == whole


@pytest.mark.parametrize(("step", "refresh", "cache_ttl", "expected"), [
    (10, 5, 4, 10),    # 1 h at 700 px: the whole 10 s step, past the 4 s cache_ttl
    (1, 5, 4, 5),      # a step shorter than the refresh: never less than a refresh
    (1, 1, 0.5, 1),    # the stale test's settings
    (7200, 5, 4, 7200),
    (5, 5, 60, 60),    # a longer cache_ttl still wins
])
def test_a_live_answer_lives_its_step_and_at_least_a_refresh(step, refresh, cache_ttl, expected):
    ttl = tr.live_ttl(step, refresh, cache_ttl)
    assert ttl == expected and ttl >= refresh and ttl >= step


@pytest.mark.parametrize("text, which, expected", [
    # 00:30 UTC on 2 Dec is 01:30 in Paris and 19:30 on 1 Dec in New York
    ("now/d", "from", datetime(2026, 12, 2, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))),
    ("now-7d/d", "from", datetime(2026, 11, 25, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))),
    ("now/w", "from", datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))),
    ("now/M", "to", datetime(2026, 12, 31, 23, 59, 59, 999000,
                             tzinfo=ZoneInfo("Europe/Paris"))),
])
def test_days_weeks_and_months_round_on_the_zones_clock(text, which, expected):
    now = datetime(2026, 12, 2, 0, 30, tzinfo=UTC).timestamp()
    paris = ZoneInfo("Europe/Paris")
    assert tr.resolve_one(text, now, which, paris) == pytest.approx(expected.timestamp())
    york = tr.resolve_one("now/d", now, "from", ZoneInfo("America/New_York"))
    assert york == datetime(2026, 12, 1, tzinfo=ZoneInfo("America/New_York")).timestamp()


def test_a_day_with_a_clock_change_is_as_long_as_the_zone_says():
    paris = ZoneInfo("Europe/Paris")
    noon = datetime(2026, 3, 29, 12, tzinfo=paris).timestamp()
    start, end = tr.resolve("now/d", "now/d", noon, paris)
    assert end + 0.001 - start == 23 * H  # the spring day has 23 hours
    # Newfoundland's half-hour offset: the hour starts at :30 UTC
    newfoundland = ZoneInfo("America/St_Johns")
    hour = tr.round_to(datetime(2026, 12, 2, 15, 10, tzinfo=UTC).timestamp(), "h",
                       tz=newfoundland)
    assert hour == datetime(2026, 12, 2, 14, 30, tzinfo=UTC).timestamp()


def test_a_naive_time_is_read_on_the_zones_clock_and_an_offset_wins():
    kolkata = ZoneInfo("Asia/Kolkata")
    assert tr.resolve_one("2026-12-01 10:00", NOW, tz=kolkata) == datetime(
        2026, 12, 1, 4, 30, tzinfo=UTC).timestamp()
    assert tr.resolve_one("2026-12-01T10:00Z", NOW, tz=kolkata) == datetime(
        2026, 12, 1, 10, tzinfo=UTC).timestamp()
@pytest.mark.parametrize("frm, to, now, expected", [
    # 7 d at a 2 h step: the window ends at 08:00, now is 09:41:17 → the 09:41:15 scrape
    ("now-7d", "now", 1_700_041_277.0, 1_700_041_275.0),
    ("now-30d", "now", 1_700_041_277.0, 1_700_041_275.0),
    # now just a scrape interval past the window's end: the point at that end's next scrape
    ("now-7d", "now", 1_700_035_215.0, 1_700_035_215.0),
    # less than a scrape interval past it: the window is close enough, no extra call
    ("now-7d", "now", 1_700_035_214.9, None),
    ("now-7d", "now", 1_700_035_200.0, None),
    # a live range ending before now reaches its own end
    ("now-7d", "now-1h", 1_700_041_277.0, 1_700_037_675.0),
    # an absolute range is not live: None, whatever the lag
    ("2023-11-08T00:00:00Z", "2023-11-15T09:41:17Z", 1_700_041_277.0, None),
    ("now-7d", "2023-11-15T09:41:17Z", 1_700_041_277.0, None),
])
def test_a_live_window_lagging_a_scrape_interval_gets_a_latest_instant(frm, to, now, expected):
    start, end = tr.resolve(frm, to, now)
    window = tr.Window(start // 7200 * 7200, end // 7200 * 7200, 7200.0)
    assert tr.latest_instant(frm, to, window, now, 15) == expected


def test_a_step_under_the_scrape_interval_never_needs_a_latest_point():
    for now in NOWS:
        window = tr.plan(now - H, now, max_data_points=1000)  # 5 s steps
        assert tr.latest_instant("now-1h", "now", window, now, 15) is None


@pytest.mark.parametrize("now", NOWS)
def test_the_latest_instant_is_after_the_window_and_shared_for_a_scrape_interval(now):
    window = tr.plan(now - 7 * D, now, max_data_points=100)
    at = tr.latest_instant("now-7d", "now", window, now, 15)
    assert at is not None and window.end < at <= now < at + 15 and at % 15 == 0
    assert tr.latest_instant("now-7d", "now", window, at + 14.9, 15) == at

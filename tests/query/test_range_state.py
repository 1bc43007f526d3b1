"""The shared range picker's pure state helpers: presets, Back, zoom, absolute, URL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dash import Dash
from dash.exceptions import PreventUpdate

from callbacks import range_picker as picker
from layouts import ids
from layouts import range_picker as picker_layout
from query import range_state as rp
from query.limits import Rejected

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()


def test_a_fresh_state_shows_the_last_hour_with_nothing_to_go_back_to():
    state = rp.initial_state()
    assert state == {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}
    assert rp.label(state) == "Last 1 hour"
    assert rp.live(state)


def test_changes_are_remembered_and_back_undoes_them_in_order():
    state = rp.initial_state()
    state = rp.set_range(state, "now-7d", "now")
    state = rp.set_range(state, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")
    assert state["back"] == [["now-1h", "now"], ["now-7d", "now"]]
    assert state["preset"] == "now-7d"  # an absolute range keeps the last preset for a reset
    state = rp.go_back(state)
    assert (state["from"], state["to"], state["back"]) == ("now-7d", "now", [["now-1h", "now"]])
    state = rp.go_back(rp.go_back(state))
    assert (state["from"], state["back"]) == ("now-1h", [])


def test_setting_the_same_range_again_adds_no_back_step():
    state = rp.set_range(rp.initial_state(), "now-1h", "now")
    assert state["back"] == []


def test_back_remembers_at_most_a_bounded_number_of_steps():
    state = rp.initial_state()
    for minutes in range(1, rp.BACK_DEPTH + 10):
        state = rp.set_range(state, f"now-{minutes}m", "now")
    assert len(state["back"]) == rp.BACK_DEPTH


def test_reset_returns_to_the_last_preset_after_zooms():
    state = rp.set_range(rp.initial_state(), "now-24h", "now")
    state = rp.set_range(state, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")
    state = rp.set_range(state, "2024-05-01T10:10:00Z", "2024-05-01T10:20:00Z")
    state = rp.reset(state)
    assert (state["from"], state["to"]) == ("now-24h", "now")
    assert not rp.live({"from": "2024-05-01T10:10:00Z", "to": "2024-05-01T10:20:00Z"})


@pytest.mark.parametrize(("relayout", "expected"), [
    ({"xaxis.range[0]": "2024-05-01 10:00:00.4", "xaxis.range[1]": "2024-05-01 10:30:00"},
     {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T10:30:00Z"}),
    ({"xaxis.range": ["2024-05-01 10:30", "2024-05-01 10:00"]},  # dragged right to left
     {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T10:30:00Z"}),
    ({"xaxis.range[0]": 1714557600000, "xaxis.range[1]": 1714561200000},
     {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T11:00:00Z"}),
    ({"xaxis.autorange": True, "yaxis.autorange": True}, {"reset": True}),
    ({"autosize": True}, None),
    (None, None),
])
def test_a_charts_relayout_becomes_a_zoom_a_reset_or_nothing(relayout, expected):
    assert rp.zoom_from_relayout(relayout) == expected


def test_a_zoom_narrower_than_a_second_still_spans_a_second():
    zoom = rp.zoom_from_relayout({"xaxis.range[0]": "2024-05-01 10:00:00.1",
                                  "xaxis.range[1]": "2024-05-01 10:00:00.2"})
    assert zoom == {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T10:00:01Z"}


def test_typed_absolute_times_become_utc_iso_strings_and_show_on_a_24_hour_clock():
    frm, to = rp.typed_range("2024-05-01 10:30", "2024-05-02T08:00", NOW)
    assert (frm, to) == ("2024-05-01T10:30:00Z", "2024-05-02T08:00:00Z")
    state = rp.set_range(rp.initial_state(), frm, to)
    assert rp.typed_inputs(state) == ("2024-05-01 10:30:00", "2024-05-02 08:00:00")
    assert rp.label(state) == "2024-05-01 10:30:00 → 2024-05-02 08:00:00 UTC (21.5h)"
    # 22:15, not 10:15 PM: the boxes read and show 24-hour times
    assert rp.typed_range("2024-04-30 22:15", "now", NOW)[0] == "2024-04-30T22:15:00Z"


def test_typed_relative_ranges_stay_relative_so_they_follow_the_clock():
    frm, to = rp.typed_range(" now - 3h ", "now", NOW)
    assert (frm, to) == ("now-3h", "now")
    state = rp.set_range(rp.initial_state(), frm, to)
    assert rp.live(state) and rp.typed_inputs(state) == ("now-3h", "now")
    assert rp.typed_range("now-7d/d", "now/d", NOW) == ("now-7d/d", "now/d")


@pytest.mark.parametrize(("typed", "message"), [
    (("", "now"), "type a 'from' time"),
    ((None, "now"), "type a 'from' time"),
    (("now-1h", "   "), "type a 'to' time"),
    (("tomorrow", "now"), "from 'tomorrow' is not"),
    (("now", "now-1h"), "must be before"),
    (("now-1h", "x" * 65), "at most 64 characters"),
    (("2024-05-02", "2024-05-01"), "must be before"),
    ((3, "now"), "type a 'from' time"),
])
def test_bad_typed_ranges_say_which_end_is_wrong(typed, message):
    with pytest.raises(ValueError, match=message):
        rp.typed_range(*typed, NOW)


def test_days_picked_on_the_calendar_fill_the_boxes_with_whole_utc_days():
    assert rp.dates_typed("2024-05-01", "2024-05-03") == ("2024-05-01 00:00:00",
                                                          "2024-05-03 23:59:59")
    assert rp.dates_typed("2024-05-01T00:00:00", None) == ("2024-05-01 00:00:00", None)


def test_refresh_choices_start_at_the_configured_interval_and_the_server_checks_them():
    assert rp.refresh_choices(5) == [5, 10, 15, 30, 60, 300, 900, 3600]
    assert rp.refresh_choices(7.5)[:2] == [7.5, 10]
    assert rp.chosen_refresh("30", 5) == 30
    for forged in ("1", "0", "nan", "-5", "abc", 5, "1e9"):
        with pytest.raises(Rejected):
            rp.chosen_refresh(forged, 5)


def test_the_relative_window_follows_the_clock():
    assert rp.window({"from": "now-1h", "to": "now"}, NOW) == (NOW - 3600, NOW)


def test_url_params_keep_other_tabs_keys_and_drop_empty_ones():
    search = "?tab=logs&logs.from=now-5m&metrics.q=up"
    updated = rp.with_params(search, {"metrics.from": "now-7d", "metrics.q": None})
    assert rp.url_params(updated) == {"tab": "logs", "logs.from": "now-5m",
                                      "metrics.from": "now-7d"}
    assert rp.with_params("", {"a": None}) == ""


def test_queries_survive_the_url_round_trip():
    query = 'sum by (job) (rate(x{path="/a?b=1&c"}[5m])) + 1'
    assert rp.url_params(rp.with_params("", {"metrics.q": query}))["metrics.q"] == query


def test_state_from_the_url_applies_a_valid_range_without_a_back_step():
    state = rp.initial_state()
    new = rp.state_from_url("metrics", "?metrics.from=now-7d&metrics.to=now", state)
    assert (new["from"], new["to"], new["back"]) == ("now-7d", "now", [])
    assert rp.state_params("metrics", new) == {"metrics.from": "now-7d", "metrics.to": "now"}


@pytest.mark.parametrize("search", [
    "", "?logs.from=now-7d", "?metrics.from=now-1h&metrics.to=now",  # nothing new
    "?metrics.from=yesterday", "?metrics.from=now&metrics.to=now-1h",  # invalid: ignored
])
def test_state_from_the_url_ignores_missing_unchanged_and_invalid_ranges(search):
    assert rp.state_from_url("metrics", search, rp.initial_state()) is None


@pytest.fixture(scope="module")
def tab_sync():
    """The tab-sync callbacks' own functions, to call directly."""
    app = Dash(__name__)
    picker.register_tab_sync(app)
    found = {c["callback"].__wrapped__.__name__: c["callback"].__wrapped__
             for c in app.callback_map.values()}
    return found["open_tab"], found["tab_to_url"]


@pytest.mark.parametrize(("search", "current", "opened"), [
    ("?tab=logs", "status", "logs"),
    ("?tab=bogus", "metrics", "status"),  # an unknown tab would select none: a blank page
    ("?tab=", "metrics", "metrics"),
    ("", "logs", "logs"),
    ("?tab=bogus", "status", "status"),
])
def test_a_link_opens_the_tab_it_names_or_the_status_tab(tab_sync, search, current, opened):
    open_tab, _ = tab_sync
    if opened == current:
        with pytest.raises(PreventUpdate):
            open_tab(search, current)
    else:
        assert open_tab(search, current) == opened


def test_only_a_real_tab_is_written_to_the_url(tab_sync):
    _, tab_to_url = tab_sync
    assert tab_to_url("logs", "?tab=status&logs.q=x") == "?tab=logs&logs.q=x"
    assert tab_to_url("bogus", "?tab=bogus") == "?tab=status"
    assert [rp.known_tab(t, ids.TAB_VALUES) for t in ("metrics", "Metrics", None)] == [
        "metrics", "status", "status"]


def test_each_tab_gets_its_own_ids():
    assert ids.range_id("metrics", ids.RANGE_STATE) != ids.range_id("logs", ids.RANGE_STATE)
    picker = picker_layout.range_picker("logs", default_from="now-15m", refresh_seconds=10)
    found = {c.id for c in _walk(picker) if isinstance(getattr(c, "id", None), str)}
    assert ids.range_id("logs", ids.RANGE_INTERVAL) in found
    assert not any(i.startswith("metrics-") for i in found)


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _walk(child)


KOLKATA = "Asia/Kolkata"  # UTC+05:30 all year


def test_a_zoom_on_a_chart_in_a_zone_is_read_back_as_utc():
    # The chart drew 15:30-16:00 Kolkata time: the range is 10:00-10:30 UTC.
    for lo, hi in (("2024-05-01 15:30:00", "2024-05-01 16:00:00"),
                   (1714577400000, 1714579200000)):
        zoom = rp.zoom_from_relayout({"xaxis.range[0]": lo, "xaxis.range[1]": hi}, KOLKATA)
        assert zoom == {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T10:30:00Z"}
    assert rp.zoom_from_relayout({"xaxis.range[0]": float("inf"),
                                  "xaxis.range[1]": 1e300}, KOLKATA) is None


def test_typed_times_are_read_and_shown_on_the_zones_clock():
    frm, to = rp.typed_range("2024-05-01 15:30", "2024-05-01T10:30:00Z", NOW, zone=KOLKATA)
    assert (frm, to) == ("2024-05-01T10:00:00Z", "2024-05-01T10:30:00Z")
    state = rp.set_range(rp.initial_state(), frm, to)
    assert rp.typed_inputs(state, NOW, KOLKATA) == ("2024-05-01 15:30:00", "2024-05-01 16:00:00")
    assert rp.label(state, NOW, KOLKATA) == (
        "2024-05-01 15:30:00 → 2024-05-01 16:00:00 Asia/Kolkata (30m)")
    # "/d" is the zone's day: Kolkata's 1 May began at 18:30 UTC on 30 April
    assert rp.window(rp.set_range(state, "now/d", "now"), NOW, KOLKATA)[0] == datetime(
        2024, 4, 30, 18, 30, tzinfo=UTC).timestamp()


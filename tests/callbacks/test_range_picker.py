"""The range picker's callbacks through the real Dash endpoint: typed ranges, the calendar,
the refresh interval (the server keeps it within what the configuration allows)."""

from __future__ import annotations

import pytest

from app import create_app
from tests import dash_calls

STATE = {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}


@pytest.fixture
def client_app(write_config):
    app = create_app(write_config("[refresh]\nmetrics = 5\n"))
    return app.server.test_client(), app


def rid(part: str) -> str:
    return f"metrics-range-{part}"


def test_a_typed_range_becomes_the_state_and_enter_applies_it_too(client_app):
    client, app = client_app
    for trigger in ("apply.n_clicks", "from.n_submit", "to.n_submit"):
        resp = dash_calls.call(client, app, rid("state.data"), {
            rid("state.data"): STATE, rid("from.value"): "now-7d/d",
            rid("to.value"): " now ", rid(trigger): 1}, triggered=[rid(trigger)])
        state = dash_calls.response_of(resp)[rid("state")]["data"]
        assert (state["from"], state["to"]) == ("now-7d/d", "now")
        assert state["back"] == [["now-1h", "now"]]


def test_a_bad_typed_end_is_named_and_the_range_is_kept(client_app):
    client, app = client_app
    resp = dash_calls.call(client, app, rid("state.data"), {
        rid("state.data"): STATE, rid("from.value"): "2024-05-01 25:00",
        rid("to.value"): "now", rid("apply.n_clicks"): 1}, triggered=[rid("apply.n_clicks")])
    answer = dash_calls.response_of(resp)
    assert "from '2024-05-01 25:00' is not" in answer[rid("error")]["children"]
    assert rid("state") not in answer


def test_days_picked_on_the_calendar_fill_the_boxes(client_app):
    client, app = client_app
    key = next(k for k, cb in app.callback_map.items() if rid("from.value") in k
               and any(d["id"] == rid("dates") for d in cb["inputs"]))
    payload = dash_calls.body(app, key, {rid("dates.start_date"): "2024-05-01",
                                         rid("dates.end_date"): "2024-05-02"},
                              triggered=[rid("dates.end_date")])
    resp = client.post(dash_calls.ENDPOINT, json=payload)
    answer = dash_calls.response_of(resp)
    assert answer[rid("from")]["value"] == "2024-05-01 00:00:00"
    assert answer[rid("to")]["value"] == "2024-05-02 23:59:59"


def test_the_refresh_interval_is_one_the_server_offers(client_app):
    client, app = client_app
    resp = dash_calls.call(client, app, rid("interval.interval"), {rid("refresh.value"): "30"},
                           triggered=[rid("refresh.value")])
    assert dash_calls.response_of(resp)[rid("interval")]["interval"] == 30_000
    for forged in ("1", "0.01", "nan", "fast"):  # faster than refresh.metrics, or not a number
        resp = dash_calls.call(client, app, rid("interval.interval"),
                               {rid("refresh.value"): forged}, triggered=[rid("refresh.value")])
        assert resp.status_code == 400, forged


def test_typed_times_are_read_on_the_chosen_zone_and_shown_on_it(client_app):
    client, app = client_app
    resp = dash_calls.call(client, app, rid("state.data"), {
        rid("state.data"): STATE, rid("from.value"): "2024-05-01 15:30",
        rid("to.value"): "2024-05-01 16:00", rid("apply.n_clicks"): 1,
        rid("zone-name.data"): "Asia/Kolkata"}, triggered=[rid("apply.n_clicks")])
    state = dash_calls.response_of(resp)[rid("state")]["data"]
    assert (state["from"], state["to"]) == ("2024-05-01T10:00:00Z", "2024-05-01T10:30:00Z")
    for zone, shown in (("Asia/Kolkata", "2024-05-01 15:30:00 → 2024-05-01 16:00:00 "
                                         "Asia/Kolkata (30m)"),
                        (None, "2024-05-01 10:00:00 → 2024-05-01 10:30:00 UTC (30m)"),
                        ("Mars/Base", "2024-05-01 10:00:00 → 2024-05-01 10:30:00 UTC (30m) · "
                                      "time zone 'Mars/Base' is unknown")):
        resp = dash_calls.call(client, app, rid("label.children"), {
            rid("state.data"): state, rid("zone-name.data"): zone},
            triggered=[rid("zone-name.data")])
        assert dash_calls.response_of(resp)[rid("label")]["children"].startswith(shown)


def test_a_forged_zone_is_refused_and_the_logs_picker_has_none(client_app):
    client, app = client_app
    resp = dash_calls.call(client, app, rid("label.children"), {
        rid("state.data"): STATE, rid("zone-name.data"): {"zone": ["UTC"]}},
        triggered=[rid("zone-name.data")])
    assert resp.status_code == 400 and b"time zone: 'zone': expected text" in resp.data
    assert not any("logs-range-zone" in k for k in app.callback_map)

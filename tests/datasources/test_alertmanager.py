"""Alertmanager alerts: golden test on a recorded body, then against a real Alertmanager."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import requests

from config import Upstream
from datasources.alertmanager import (
    COLUMNS,
    SILENCE_COLUMNS,
    Alertmanager,
    alerts_from_response,
    build_alert,
    build_silence,
    silences_from_response,
)
from datasources.cache import Cache
from datasources.errors import BadResponse, QueryError, Unreachable
from query import alerts
from stack.poll import until

RECORDED = Path(__file__).parents[1] / "fixtures" / "alertmanager" / "am_alerts.json"


def test_recorded_alerts_frame_firing_first_with_source_link():
    raw = json.loads(RECORDED.read_text())
    frame = alerts_from_response(RECORDED.read_bytes())
    assert list(frame.columns) == list(COLUMNS)
    assert frame[["alertname", "state", "severity"]].values.tolist() == [
        ["DemoAlwaysFiring", "firing", "critical"], ["DemoManual", "suppressed", "info"]]
    by_name = {a["labels"]["alertname"]: a for a in raw}
    assert frame["source"].tolist() == [by_name[n]["generatorURL"] for n in frame["alertname"]]
    assert frame["active_at"].tolist() == [pd.Timestamp(by_name[n]["startsAt"])
                                           for n in frame["alertname"]]
    assert frame["labels"].tolist() == ['{team="ops \\"core\\""}', '{instance="x"}']
    assert frame["value"].isna().all()
    assert str(frame["active_at"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("body", [b"<html>502</html>", b'{"alerts": []}'])
def test_bodies_that_are_not_an_alert_list_are_bad_responses(body):
    with pytest.raises(BadResponse):
        alerts_from_response(body)


def upstream(url: str) -> Upstream:
    return Upstream("Alertmanager", url, timeout=2.0, cache_ttl=0.01)


def post_alert(url: str, name: str, **labels) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    alert = {"labels": {"alertname": name, **labels},
             "annotations": {"summary": f"{name} summary"}, "startsAt": now,
             "generatorURL": f"http://127.0.0.1:9090/graph?g0.expr={name}"}
    requests.post(url + "/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def silence(url: str, name: str) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {"matchers": [{"name": "alertname", "value": name, "isRegex": False}],
            "startsAt": now, "endsAt": "2099-01-01T00:00:00Z", "createdBy": "test",
            "comment": "test"}
    requests.post(url + "/api/v2/silences", json=body, timeout=5).raise_for_status()


def test_real_alertmanager_alerts_posted_through_its_api(alertmanager_server, tmp_path):
    url = alertmanager_server.url
    firing, muted = f"Fire{uuid.uuid4().hex[:8]}", f"Muted{uuid.uuid4().hex[:8]}"
    post_alert(url, firing, severity="critical", instance="db-1")
    post_alert(url, muted, severity="info")
    silence(url, muted)
    am = Alertmanager(upstream(url), Cache(tmp_path / "cache"))

    def settled():
        result = am.alerts(force=True)
        mine = result.value[result.value["alertname"].isin([firing, muted])]
        return set(mine["state"]) == {"firing", "suppressed"} and (result, mine)

    # A silence applies on Alertmanager's next pass over its alerts.
    result, mine = until(settled, 10, message="one alert firing, one suppressed")
    assert result.ok and not result.stale
    rows = mine.set_index("alertname")
    assert rows.loc[firing, ["state", "severity", "labels", "summary"]].tolist() == [
        "firing", "critical", '{instance="db-1"}', f"{firing} summary"]
    assert rows.loc[muted, "state"] == "suppressed"
    assert rows.loc[firing, "source"].endswith(f"g0.expr={firing}")
    # firing before suppressed, whatever else other tests left in the shared server
    states = result.value["state"].tolist()
    assert states == sorted(states, key=lambda s: s != "firing")


def test_unreachable_alertmanager_is_an_unreachable_result(closed_port, tmp_path):
    am = Alertmanager(upstream(f"http://127.0.0.1:{closed_port}"), Cache(tmp_path / "cache"))
    result = am.alerts()
    assert isinstance(result.error, Unreachable)
    assert result.error.describe() == "Alertmanager unreachable: connection refused"
    assert result.value is None


# --- silences (issue 14) ---------------------------------------------------------------------

SILENCES = Path(__file__).parents[1] / "fixtures" / "alertmanager" / "am_silences.json"


def test_recorded_silences_frame_with_matcher_text_and_states():
    frame = silences_from_response(SILENCES.read_bytes())
    assert list(frame.columns) == list(SILENCE_COLUMNS)
    assert frame["state"].tolist() == ["expired", "active"]  # the soonest ending first
    assert frame["matchers"].tolist() == ['alertname="X", service="s"', 'a!~"b"']
    assert frame["comment"].iloc[1] == 'recorded "quote" ü'
    assert frame["ends_at"].iloc[1] == pd.Timestamp("2099-01-01T00:00:00Z")
    assert alerts.active_silences(frame)["id"].tolist() == [frame["id"].iloc[1]]


@pytest.mark.parametrize("body", [b"{}", b'[{"id": "x"}]', b'[{"id": "x", "status": {}}]',
                                  b"<html>502</html>"])
def test_bodies_that_are_not_a_silence_list_are_bad_responses(body):
    with pytest.raises(BadResponse):
        silences_from_response(body)


def test_a_silence_matches_exactly_the_alerts_labels():
    body = build_silence({"b": "2", "a": 'x"y'}, 0, 3600, "ops", "deploy")
    assert body == {"matchers": [{"name": "a", "value": 'x"y', "isRegex": False, "isEqual": True},
                                 {"name": "b", "value": "2", "isRegex": False, "isEqual": True}],
                    "startsAt": "1970-01-01T00:00:00.000Z", "endsAt": "1970-01-01T01:00:00.000Z",
                    "createdBy": "ops", "comment": "deploy"}


def test_real_silence_created_listed_and_expired(alertmanager_server, tmp_path):
    url = alertmanager_server.url
    name = f"Silence{uuid.uuid4().hex[:8]}"
    post_alert(url, name, severity="warning", instance="db-2")
    am = Alertmanager(upstream(url), Cache(tmp_path / "cache"))
    alert = until(lambda: next((a for a in am.alerts(force=True).value.to_dict("records")
                                if a["alertname"] == name), None), 10, message="alert posted")
    now = time.time()
    silence_id = am.create_silence(alert["label_set"], now, now + 3600, "ops", "deploy")
    # the write fetched the lists again: the cached answers show it without waiting a TTL
    cached = Alertmanager(upstream(url), am.cache)
    mine = cached.alerts(ttl=3600).value.set_index("alertname").loc[name]
    assert mine["state"] == "suppressed" and mine["silenced_by"] == (silence_id,)
    silences = cached.silences(ttl=3600).value.set_index("id")
    assert silences.loc[silence_id, ["state", "created_by", "comment"]].tolist() == [
        "active", "ops", "deploy"]
    assert silences.loc[silence_id, "matchers"] == (f'alertname="{name}", instance="db-2", '
                                                    'severity="warning"')
    am.expire_silence(silence_id)
    assert cached.silences(ttl=3600).value.set_index("id").loc[silence_id, "state"] == "expired"
    assert cached.alerts(ttl=3600).value.set_index("alertname").loc[name, "state"] == "firing"


def test_alertmanagers_refusal_keeps_its_words(alertmanager_server, tmp_path):
    am = Alertmanager(upstream(alertmanager_server.url), Cache(tmp_path / "cache"))
    with pytest.raises(QueryError, match="start time must be before end time"):
        am.create_silence({"alertname": "X"}, 100.0, 50.0, "ops", "backwards")
    with pytest.raises(QueryError, match="silenceID in path must be of type uuid"):
        am.expire_silence("not-a-uuid")


def test_writes_to_an_unreachable_alertmanager_are_unreachable(closed_port, tmp_path):
    am = Alertmanager(upstream(f"http://127.0.0.1:{closed_port}"), Cache(tmp_path / "cache"))
    with pytest.raises(Unreachable, match="connection refused"):
        am.post_alerts([build_alert({"alertname": "X"}, {}, 0)])

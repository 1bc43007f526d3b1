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
from datasources.alertmanager import COLUMNS, Alertmanager, alerts_from_response
from datasources.cache import Cache
from datasources.errors import BadResponse, Unreachable
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

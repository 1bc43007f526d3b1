"""Silences through the real Dash endpoint and a real Alertmanager: rights, audit, errors.

Each test posts what the browser would to ``/_dash-update-component``. The signed-in user is
put on ``flask.g`` the way the login middleware does, by a ``before_request`` hook.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
import requests
from flask import g

import access
from app import create_app
from layouts import ids
from query import alerts
from tests import dash_calls


@pytest.fixture
def stack(write_config, prometheus_server, alertmanager_server, redis_server):
    """The app on real Prometheus and Alertmanager; ``user["now"]`` is who is asking."""
    config = write_config(f"""
[prometheus]
url = "{prometheus_server.url}"
[alertmanager]
url = "{alertmanager_server.url}"
notify = false
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
""")
    app = create_app(config)
    user = {"now": access.User("olga", "operator")}
    app.server.before_request(lambda: setattr(g, "stackscope_user", user["now"]))
    return app, app.server.test_client(), user


def firing_alert(url: str) -> dict[str, str]:
    """Post an alert to Alertmanager; its labels."""
    labels = {"alertname": f"Cb{uuid.uuid4().hex[:8]}", "severity": "warning"}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    requests.post(url + "/api/v2/alerts", json=[{"labels": labels, "startsAt": now}],
                  timeout=5).raise_for_status()
    return labels


def callback_with_input(app, input_id: str) -> str:
    return next(k for k, cb in app.callback_map.items()
                if any(i["id"] == input_id for i in cb["inputs"]))


def ask_to_silence(app, client, key):
    """What the browser posts once a Silence button was pressed (``stackscope_clicks``)."""
    name = callback_with_input(app, ids.SILENCE_ASKED)
    body = dash_calls.body(app, name, {f"{ids.SILENCE_ASKED}.data":
                                       {"type": ids.SILENCE_OPEN, "key": key, "at": 1},
                                       f"{ids.SILENCE_CANCEL}.n_clicks": 0},
                           triggered=[f"{ids.SILENCE_ASKED}.data"])
    return client.post(dash_calls.ENDPOINT, data=json.dumps(body),
                       content_type="application/json")


def create(app, client, key, comment="deploy", duration="1h", custom=""):
    name = callback_with_input(app, ids.SILENCE_CREATE)
    body = dash_calls.body(app, name, {
        f"{ids.SILENCE_CREATE}.n_clicks": 1, f"{ids.SILENCE_KEY}.data": key,
        f"{ids.SILENCE_DURATION}.value": duration, f"{ids.SILENCE_CUSTOM}.value": custom,
        f"{ids.SILENCE_COMMENT}.value": comment, f"{ids.ALERTS_CHANGED}.data": 0},
        triggered=[f"{ids.SILENCE_CREATE}.n_clicks"])
    return client.post(dash_calls.ENDPOINT, data=json.dumps(body),
                       content_type="application/json")


def expire(app, client, silence_id):
    name = callback_with_input(app, ids.SILENCE_EXPIRE_ASKED)
    asked = {"type": ids.SILENCE_EXPIRE, "id": silence_id, "at": 1}
    body = dash_calls.body(app, name, {f"{ids.SILENCE_EXPIRE_ASKED}.data": asked,
                                       f"{ids.ALERTS_CHANGED}.data": 0},
                           triggered=[f"{ids.SILENCE_EXPIRE_ASKED}.data"])
    return client.post(dash_calls.ENDPOINT, data=json.dumps(body),
                       content_type="application/json")


def silences_for(url: str, alertname: str) -> list[dict]:
    found = requests.get(url + "/api/v2/silences", timeout=5).json()
    return [s for s in found if {"name": "alertname", "value": alertname, "isRegex": False,
                                 "isEqual": True} in s["matchers"]]


def audit_entries(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "stackscope.audit"]


def test_an_operator_silences_an_alert_by_its_labels_and_expires_it(
        stack, alertmanager_server, caplog):
    app, client, _ = stack
    url = alertmanager_server.url
    labels = firing_alert(url)
    caplog.set_level(logging.INFO, logger="stackscope.audit")
    resp = create(app, client, alerts.fingerprint(labels))
    out = dash_calls.response_of(resp)
    assert out[ids.ALERTS_CHANGED]["data"] == 1
    [silence] = silences_for(url, labels["alertname"])
    assert silence["createdBy"] == "olga" and silence["comment"] == "deploy"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == labels
    assert silence["status"]["state"] == "active"
    [entry] = audit_entries(caplog)
    assert entry["event"] == "silence.create" and entry["result"] == "ok"
    assert entry["user"] == "olga" and entry["silence_id"] == silence["id"]

    out = dash_calls.response_of(expire(app, client, silence["id"]))
    assert out[ids.ALERTS_CHANGED]["data"] == 1
    assert silences_for(url, labels["alertname"])[0]["status"]["state"] == "expired"
    assert [e["event"] for e in audit_entries(caplog)] == ["silence.create", "silence.expire"]


def test_the_dialog_opens_on_the_alert_the_server_knows_by_that_key(
        stack, alertmanager_server):
    app, client, _ = stack
    labels = firing_alert(alertmanager_server.url)
    key = alerts.fingerprint(labels)
    out = dash_calls.response_of(ask_to_silence(app, client, key))
    assert out[ids.SILENCE_MODAL]["is_open"] is True
    assert out[ids.SILENCE_KEY]["data"] == key
    assert labels["alertname"] in json.dumps(out[ids.SILENCE_MATCHERS])
    for forged in ("0123456789abcdef", {"alertname": "forged"}, None):
        out = dash_calls.response_of(ask_to_silence(app, client, forged))
        assert out[ids.SILENCE_MODAL]["is_open"] is False


def test_a_viewer_gets_403_and_alertmanager_gets_nothing(stack, alertmanager_server, caplog):
    app, client, user = stack
    user["now"] = access.User("v", "viewer")
    labels = firing_alert(alertmanager_server.url)
    assert create(app, client, alerts.fingerprint(labels)).status_code == 403
    assert expire(app, client, str(uuid.uuid4())).status_code == 403
    assert silences_for(alertmanager_server.url, labels["alertname"]) == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"comment": "  "}, "a comment is required"),
    ({"duration": "custom", "custom": "forever"}, "not a duration"),
    ({"duration": "custom", "custom": "400d"}, "1m to 90d"),
    ({"key": "0123456789abcdef"}, "no longer active"),
    ({"key": {"alertname": "forged"}}, "no longer active"),
])
def test_a_bad_request_says_why_and_creates_nothing(stack, alertmanager_server, fields,
                                                     message):
    app, client, _ = stack
    labels = firing_alert(alertmanager_server.url)
    args = {"key": alerts.fingerprint(labels), **fields}
    out = dash_calls.response_of(create(app, client, **args))
    assert message in out[ids.SILENCE_ERROR]["children"]
    assert silences_for(alertmanager_server.url, labels["alertname"]) == []


def test_expiring_an_unknown_silence_shows_alertmanagers_words(stack):
    app, client, _ = stack
    out = dash_calls.response_of(expire(app, client, "not-a-uuid"))
    assert "silenceID in path must be of type uuid" in json.dumps(out[ids.ALERTS_FEEDBACK])

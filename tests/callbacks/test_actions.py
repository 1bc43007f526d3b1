"""Action callbacks through the real Dash endpoint: the server owns rights and the catalogue.

Requests are posted as the renderer posts them (tests/dash_calls.py), as a user set on
``flask.g`` by a before_request hook (what the login middleware does); the webhook is the demo
action engine restarting a real demo API, or a black hole.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
from flask import Flask, g

import access
from app import create_app
from callbacks.actions import buttons_by_service
from config import load_config
from layouts import ids
from tests import dash_calls


def config_toml(stack, black_hole, role="operator") -> str:
    host, port = black_hole
    return f"""
[[services]]
name = "Demo API"
kind = "http"
port = {stack.api().port}
path = "/health"

[[services]]
name = "Redis"
kind = "tcp"
port = 6379

[[actions]]
name = "Restart"
services = "Demo API"
url = "{stack.url}/restart"
body = '{{"service": "{{service}}", "by": "{{user}}"}}'
headers = {{ Authorization = "Bearer {stack.token}" }}
confirm = "Restart the demo API?"
role = "{role}"
timeout = 30

[[actions]]
name = "Flush"
services = ["Redis"]
url = "http://{host}:{port}/flush"
timeout = 0.3
"""


@pytest.fixture(scope="module")
def black_hole_address():
    """A port that accepts connections and never answers, for the whole module."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(socket.SOMAXCONN)
        yield sock.getsockname()


@pytest.fixture(scope="module")
def apps(tmp_path_factory, action_engine_stack, black_hole_address):
    """One app per action role, built once; each request is made as ``user["now"]``."""
    user, built = {}, {}
    for role in ("operator", "admin"):
        d = tmp_path_factory.mktemp(f"actions-{role}")
        path = d / "stackscope.toml"
        path.write_text(f'[cache]\ndir = "{d / "cache"}"\n'
                        + config_toml(action_engine_stack, black_hole_address, role))
        app = create_app(load_config(str(path), env={}))
        app.server.before_request(lambda: setattr(g, "stackscope_user", user["now"]))
        built[role] = app
    return user, built


@pytest.fixture
def app_as(apps):
    """``start(user, role=…)``: the app whose Restart needs ``role``, as ``user``; a client."""
    user, built = apps

    def start(who: access.User, role: str = "operator"):
        user["now"] = who
        return built[role], built[role].server.test_client()
    return start


def post_confirm(app, client, pending):
    key = next(k for k, cb in app.callback_map.items()
               if any(d["id"] == ids.ACTION_CONFIRM for d in cb["inputs"]))
    payload = dash_calls.body(app, key, {f"{ids.ACTION_CONFIRM}.n_clicks": 1,
                                         f"{ids.ACTION_PENDING}.data": pending},
                              triggered=[f"{ids.ACTION_CONFIRM}.n_clicks"])
    return client.post(dash_calls.ENDPOINT, data=json.dumps(payload),
                       content_type="application/json")


def post_ask(app, client, pending):
    return dash_calls.call(client, app, f"{ids.ACTION_MODAL}.is_open",
                           {f"{ids.ACTION_PENDING}.data": pending},
                           triggered=[f"{ids.ACTION_PENDING}.data"])


@pytest.fixture
def audited(caplog):
    """The action runs audited (the login layer's own "forbidden" entries left out)."""
    caplog.set_level(logging.INFO, logger="stackscope.audit")
    return lambda: [e for e in (json.loads(r.getMessage()) for r in caplog.records
                                if r.name == "stackscope.audit") if e["event"] == "action.run"]


OPERATOR = access.User("olga", "operator")
VIEWER = access.User("vic", "viewer")
RESTART = {"action": "Restart", "service": "Demo API"}


def test_an_operator_restarts_the_demo_api_and_the_run_is_audited(app_as, action_engine_stack,
                                                                  audited):
    app, client = app_as(OPERATOR)
    before = action_engine_stack.api().popen.pid
    resp = post_confirm(app, client, RESTART)
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "HTTP 200 OK" in text and f'\\"old_pid\\": {before}' in text
    assert action_engine_stack.api().popen.pid != before
    assert action_engine_stack.token not in text
    [entry] = audited()
    assert {k: entry[k] for k in ("user", "role", "event", "result", "action", "service",
                                  "status")} == {
        "user": "olga", "role": "operator", "event": "action.run", "result": "ok",
        "action": "Restart", "service": "Demo API", "status": 200}
    assert action_engine_stack.token not in json.dumps(entry)


@pytest.mark.parametrize("user, action_role", [(VIEWER, "operator"), (OPERATOR, "admin")])
def test_without_the_right_or_the_actions_role_it_is_403_and_nothing_runs(
        app_as, action_engine_stack, audited, user, action_role):
    app, client = app_as(user, action_role)
    before = action_engine_stack.api().popen.pid
    resp = post_confirm(app, client, RESTART)
    assert resp.status_code == 403
    assert action_engine_stack.api().popen.pid == before
    assert [(e["result"], e["user"], e["action"]) for e in audited()] == [
        ("denied", user.name, "Restart")]


@pytest.mark.parametrize("pending", [
    {"action": "Restart", "service": "Redis"},  # configured, but not for that service
    {"action": "Reboot", "service": "Demo API"},
])
def test_a_forged_action_not_configured_for_the_service_is_refused(app_as, audited, pending):
    app, client = app_as(OPERATOR)
    resp = post_confirm(app, client, pending)
    assert resp.status_code == 400
    assert "is configured for" in resp.get_data(as_text=True)
    assert [e["result"] for e in audited()] == ["refused"]


@pytest.mark.parametrize("pending", [None, "Restart", {"action": 1, "service": []}])
def test_a_malformed_request_is_400_not_500(app_as, pending):
    app, client = app_as(OPERATOR)
    assert post_confirm(app, client, pending).status_code == 400


def test_a_webhook_that_never_answers_times_out_with_a_clear_message(app_as, audited):
    app, client = app_as(OPERATOR)
    resp = post_confirm(app, client, {"action": "Flush", "service": "Redis"})
    assert resp.status_code == 200
    assert "no answer within 0.3 s (timeout); it may still have run" in resp.get_data(
        as_text=True)
    [entry] = audited()
    assert (entry["result"], entry["status"]) == ("error", None)


def test_the_dialog_asks_with_the_configured_question_service_and_user(app_as):
    app, client = app_as(OPERATOR)
    body = post_ask(app, client, RESTART).get_json()["response"]
    assert body[ids.ACTION_MODAL] == {"is_open": True}
    prompt = json.dumps(body[ids.ACTION_PROMPT])
    assert all(s in prompt for s in ("Restart the demo API?", "Demo API", "olga (operator)",
                                     "POST http://127.0.0.1:"))
    assert body[ids.ACTION_CONFIRM] == {"disabled": False}


def test_a_viewer_is_told_why_and_run_stays_disabled(app_as):
    app, client = app_as(VIEWER)
    body = post_ask(app, client, RESTART).get_json()["response"]
    assert "needs the operator role (vic is viewer)" in json.dumps(body[ids.ACTION_PROMPT])
    assert body[ids.ACTION_CONFIRM] == {"disabled": True}


@pytest.mark.parametrize("user, disabled", [(VIEWER, True), (OPERATOR, False)])
def test_cards_offer_their_services_actions_disabled_for_a_viewer(
        write_config, action_engine_stack, black_hole, user, disabled):
    config = write_config(config_toml(action_engine_stack, black_hole))
    with Flask(__name__).test_request_context():
        g.stackscope_user = user
        found = buttons_by_service(config)
    assert set(found) == {"Demo API", "Redis"}
    [button] = found["Demo API"].children
    assert button.id == {"type": ids.ACTION_RUN, "action": "Restart", "service": "Demo API"}
    assert (button.children, button.disabled) == ("Restart", disabled)

"""stack/action_engine.py: the demo webhook answers what it did, refuses what it cannot do;
stack.run configures the dashboard's Restart action for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from config import load_config
from stack import run
from stack.action_engine import service_from_body


def call(url: str, method: str = "POST", body: bytes | None = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


KNOWN = {"api": "api", "Backend API": "api"}


@pytest.mark.parametrize("raw, says", [
    (b"", 'body must be JSON like {"service": "api"}'),
    (b"{", 'body must be JSON like {"service": "api"}'),
    (b'["api"]', 'body must be JSON like {"service": "api"}'),
    (b'{"service": 1}', 'body must be JSON like {"service": "api"}'),
    (b'{"service": "db"}', "unknown service 'db' (known: api, Backend API)"),
])
def test_a_body_that_names_no_known_service_says_why(raw, says):
    with pytest.raises(ValueError) as err:
        service_from_body(raw, KNOWN)
    assert str(err.value) == says


def test_a_known_service_by_key_or_card_name():
    assert service_from_body(b'{"service": "Backend API", "by": "x"}', KNOWN) == "Backend API"


@pytest.mark.parametrize("method, path, body, token, status, says", [
    ("GET", "/health", None, None, 200, None),
    ("GET", "/restart", None, None, 405, "no GET /restart here (POST /restart)"),
    ("DELETE", "/restart", None, None, 405, "DELETE not allowed (POST /restart)"),
    ("POST", "/scale", b"{}", None, 404, "no /scale here (POST /restart)"),
    ("POST", "/restart", b'{"service": "api"}', None, 401, "missing or wrong bearer token"),
    ("POST", "/restart", b'{"service": "db"}', "tok", 400,
     "unknown service 'db' (known: api, Demo API)"),
    ("POST", "/restart", b"x" * 70_000, "tok", 400, "body larger than 65536 bytes"),
])
def test_the_engine_refuses_what_it_cannot_do_and_restarts_nothing(
        action_engine_stack, method, path, body, token, status, says):
    stack = action_engine_stack
    before = stack.api().popen.pid
    got, answer = call(stack.url + path, method, body,
                       stack.token if token == "tok" else None)
    assert got == status and answer.get("error") == says
    assert stack.api().popen.pid == before


def test_the_demo_config_offers_restart_with_the_token_and_the_engines_url(tmp_path):
    stack = run.Stack(tmp_path, "127.0.0.1", {**{p.key: p.default for p in run.PORTS},
                                              "actions": 18003})
    path = tmp_path / "stackscope.toml"
    path.write_text(run.dashboard_toml(stack, 8050, actions_token="tok-demo-1"))
    [restart] = load_config(str(path), env={}).actions
    assert restart.services == ("Backend API", "NGINX", "Redis")
    assert restart.url == "http://127.0.0.1:18003/restart"
    assert restart.headers == {"Authorization": "Bearer tok-demo-1"}
    assert set(restart.services) <= set(run.RESTARTABLE)
    # Without an engine (the tests' stacks), no action is offered.
    path.write_text(run.dashboard_toml(stack, 8050))
    assert load_config(str(path), env={}).actions == ()

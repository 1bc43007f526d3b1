"""datasources/actions.py: the request built from the template, the answer scrubbed and cut,
and real calls: the demo action engine restarting a real demo API, a black hole timing out."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from config import Action, Service
from datasources.actions import (
    READ_LIMIT,
    SHOWN_CHARS,
    Busy,
    Runner,
    build_request,
    result_from_response,
    secrets,
    send,
    shown_url,
)
from datasources.errors import Unreachable
from stack.poll import until

SERVICE = Service("Demo API", "http", 8000, host="127.0.0.1", group="app")


def action(**kw) -> Action:
    return Action(**{"name": "Restart", "services": ("Demo API",),
                     "url": "http://127.0.0.1:8003/restart", **kw})


# --- building the request (pure) -------------------------------------------------------------

def test_a_json_body_is_filled_with_json_escaped_values_and_sent_as_json():
    req = build_request(action(body='{"service": "{service}", "port": {port}, "by": "{user}"}'),
                        SERVICE, 'o"neil\\')
    assert json.loads(req.body) == {"service": "Demo API", "port": 8000, "by": 'o"neil\\'}
    assert req.headers["Content-Type"] == "application/json"
    assert (req.method, req.timeout) == ("POST", 10.0)


def test_url_placeholders_are_percent_encoded_and_aliases_work():
    req = build_request(action(url="http://127.0.0.1:8003/svc/{service.name}/restart?g={group}",
                               method="PUT"), SERVICE, "ops")
    assert req.url == "http://127.0.0.1:8003/svc/Demo%20API/restart?g=app"
    assert req.body is None and "Content-Type" not in req.headers


def test_a_text_body_is_filled_as_is_and_keeps_its_content_type():
    req = build_request(action(body="restart {service} on {host}:{port} for {user} ({role})",
                               headers={"content-type": "text/plain"}), SERVICE, "ops", "admin")
    assert req.body == b"restart Demo API on 127.0.0.1:8000 for ops (admin)"
    assert req.headers["content-type"] == "text/plain"


def test_only_known_placeholders_are_filled_no_attribute_is_ever_looked_up():
    # Config refuses these at start-up; were one to get through, it stays literal text.
    req = build_request(action(body="{service.__class__} {user.__init__} {0} {service}"),
                        SERVICE, "ops")
    assert req.body == b"{service.__class__} {user.__init__} {0} Demo API"


# --- the answer, as shown (pure) -------------------------------------------------------------

SECRET_ACTION = action(url="http://hook:pw-9d1e@127.0.0.1:8003/restart?token=qs-77aa&force=1",
                       headers={"Authorization": "Bearer tok-3f9a1c", "X-Key": "hdr-5be41f"})


def test_every_configured_secret_is_redacted_in_the_body_and_the_url():
    echoed = json.dumps({"saw": ["Bearer tok-3f9a1c", "tok-3f9a1c", "hdr-5be41f", "pw-9d1e",
                                 "qs-77aa", "http://hook:pw-9d1e@127.0.0.1/"]}).encode()
    shown = result_from_response(SECRET_ACTION, "Demo API", 200, "OK", echoed,
                                 {"Content-Type": "application/json"})
    for secret in ("tok-3f9a1c", "hdr-5be41f", "pw-9d1e", "qs-77aa"):
        assert secret not in shown.body
    assert shown.body.count("[redacted]") == 6 and shown.ok
    assert "force=1" in shown_url(SECRET_ACTION, SECRET_ACTION.url)
    assert "qs-77aa" not in shown_url(SECRET_ACTION, SECRET_ACTION.url)
    assert set(secrets(SECRET_ACTION)) >= {"tok-3f9a1c", "Bearer tok-3f9a1c", "hdr-5be41f",
                                           "pw-9d1e", "qs-77aa"}


@pytest.mark.parametrize("raw, content_type, expected, cut", [
    (b'{"pid": 2}', "application/json", '{\n  "pid": 2\n}', False),
    (b'{"pid": ', "application/json", '{"pid": ', False),  # broken JSON: shown as sent
    (b"caf\xe9", "text/plain; charset=latin-1", "café", False),
    (b"\xff\xfe ok", "text/plain", "\ufffd\ufffd ok", False),
    (b"", "text/plain", "", False),
    (b"x" * (SHOWN_CHARS + 1), "text/plain", "x" * SHOWN_CHARS, True),
    (b"[" * 100_000, "application/json", "[" * SHOWN_CHARS, True),
])
def test_the_body_is_decoded_pretty_printed_and_cut(raw, content_type, expected, cut):
    shown = result_from_response(action(), "Demo API", 500, "Internal Server Error", raw,
                                 {"Content-Type": content_type})
    assert (shown.body, shown.truncated, shown.ok) == (expected, cut, False)


def test_an_answer_past_the_read_limit_is_cut_not_parsed():
    raw = json.dumps({"x": "y" * READ_LIMIT}).encode()
    shown = result_from_response(action(), "s", 200, "OK", raw,
                                 {"Content-Type": "application/json"})
    assert shown.truncated and len(shown.body) == SHOWN_CHARS


# --- real calls --------------------------------------------------------------------------------

def engine_action(stack, **kw) -> Action:
    return action(url=stack.url + "/restart", body='{"service": "{service}", "by": "{user}"}',
                  headers={"Authorization": f"Bearer {stack.token}"}, timeout=30, **kw)


def health(proc) -> int:
    with urllib.request.urlopen(proc.url + "/health", timeout=5) as resp:
        return resp.status


def test_restart_through_the_demo_action_engine_replaces_the_real_api(action_engine_stack):
    stack = action_engine_stack
    before = stack.api().popen.pid
    answer = Runner().run(engine_action(stack), SERVICE, "ops", "operator")
    after = stack.api()
    assert answer.ok and answer.status == 200
    body = json.loads(answer.body)
    assert (body["service"], body["old_pid"], body["pid"]) == ("Demo API", before,
                                                                after.popen.pid)
    assert after.popen.pid != before and after.alive()
    assert health(after) == 200
    assert stack.token not in answer.body


@pytest.mark.parametrize("service, headers, status, says", [
    ("Redis", None, 400, "unknown service 'Redis' (known: api, Demo API)"),
    ("Demo API", {"Authorization": "Bearer tok-wrong-81c2"}, 401, "missing or wrong bearer token"),
])
def test_the_engine_refuses_unknown_services_and_wrong_tokens(action_engine_stack, service,
                                                              headers, status, says):
    act = engine_action(action_engine_stack)
    if headers:
        act = Action(**{**act.__dict__, "headers": headers})
    before = action_engine_stack.api().popen.pid
    answer = Runner().run(act, Service(service, "tcp", 1), "ops", "operator")
    assert (answer.status, answer.ok) == (status, False)
    assert json.loads(answer.body)["error"] == says
    assert action_engine_stack.api().popen.pid == before


def test_a_black_hole_times_out_with_a_clear_message(black_hole):
    host, port = black_hole
    act = action(url=f"http://{host}:{port}/restart", timeout=0.3,
                 headers={"Authorization": "Bearer tok-3f9a1c"})
    with pytest.raises(Unreachable) as err:
        send(act, build_request(act, SERVICE, "ops"), "Demo API")
    assert err.value.describe() == ("action 'Restart' unreachable: no answer within 0.3 s "
                                    "(timeout); it may still have run")


def test_a_closed_port_is_unreachable_in_its_own_words(closed_port):
    act = action(url=f"http://127.0.0.1:{closed_port}/restart")
    with pytest.raises(Unreachable, match="connection refused"):
        send(act, build_request(act, SERVICE, "ops"), "Demo API")


def test_one_run_per_action_and_service_and_max_running_in_all(black_hole):
    host, port = black_hole
    act = action(url=f"http://{host}:{port}/restart", timeout=1)
    runner, errors = Runner(max_running=1), []

    def first():
        try:
            runner.run(act, SERVICE, "ops", "operator")
        except Unreachable as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    until(lambda: runner.running(), 5)
    with pytest.raises(Busy, match="already running on Demo API"):
        runner.run(act, SERVICE, "other", "operator")
    with pytest.raises(Busy, match="1 actions are running"):
        runner.run(act, Service("Other", "tcp", 1), "ops", "operator")
    thread.join()
    assert len(errors) == 1 and runner.running() == []

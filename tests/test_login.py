"""Access at the door (login.py): basic and proxy logins, the loopback rule, CSRF, callbacks
reserved to a right, the audit log, and `python app.py hash-password`."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from werkzeug.exceptions import TooManyRequests
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.serving import make_server

import access
import login
from app import create_app
from config import ConfigError
from layouts import ids
from query.rate_limit import Limit
from stack.services import free_port
from tests.dash_calls import call
from tests.test_app import props_of, serve

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse 7f3a"
#: one hash for every user; pbkdf2 of few rounds, as scrypt's check costs ~0.2 s each
HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
USERS = "".join(f'[[auth.users]]\nname = "{name}"\npassword_hash = "{HASH}"\nrole = "{role}"\n'
                for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")))


def basic(name: str, password: str = PASSWORD) -> dict:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def basic_app(write_config):
    return create_app(write_config('[auth]\nmode = "basic"\n' + USERS))


def client_from(app, peer: str):
    """A test client whose requests come from ``peer`` (the socket address the app sees)."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    return client


def audit_entries(app) -> list[dict]:
    path = Path(app.server.extensions[access.EXTENSION].path)
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- basic -----------------------------------------------------------------------------------

def test_basic_signs_in_with_the_right_password_and_shows_the_user(basic_app):
    client = basic_app.server.test_client()
    page = client.get("/", headers=basic("vera"))
    assert page.status_code == 200 and "<title>stackscope</title>" in page.text
    layout = client.get("/_dash-layout", headers=basic("vera")).get_json()
    assert props_of(layout, ids.NAV_USER)["children"] == "vera (viewer)"
    assert props_of(layout, ids.NAV_CONFIG) is None  # the config path is for admins only
    admin = client.get("/_dash-layout", headers=basic("ada")).get_json()
    assert props_of(admin, ids.NAV_USER)["children"] == "ada (admin)"
    assert props_of(admin, ids.NAV_CONFIG)["children"].startswith("config: ")


@pytest.mark.parametrize("headers", [{}, basic("vera", "wrong"), basic("nobody"),
                                     {"Authorization": "Bearer abc"}])
def test_basic_without_a_good_login_is_401_with_a_challenge(basic_app, headers):
    client = basic_app.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/logs/export/x.csv"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith('Basic realm="stackscope"')


def test_health_and_build_assets_need_no_login(basic_app):
    client = basic_app.server.test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/assets/stackscope.css").status_code == 200
    assert client.get("/vendor/bootstrap.min.css").status_code == 200


def test_a_refused_login_is_audited_with_name_and_address_never_the_password(basic_app):
    client = client_from(basic_app, "127.0.0.9")
    assert client.get("/", headers=basic("vera", "guess-91c2")).status_code == 401
    assert client.get("/", headers=basic("mallory", "guess-91c2")).status_code == 401
    entries = audit_entries(basic_app)
    assert [(e["event"], e["result"], e["user"], e["addr"]) for e in entries] == [
        ("login", "refused", "vera", "127.0.0.9"), ("login", "refused", "mallory", "127.0.0.9")]
    text = Path(basic_app.server.extensions[access.EXTENSION].path).read_text()
    assert "guess-91c2" not in text and PASSWORD not in text


def test_the_audit_file_rotates_and_keeps_two_files(tmp_path):
    sink = access.AuditFile(tmp_path / "audit.log", max_bytes=2000)
    for i in range(100):
        sink.write(json.dumps({"n": i, "pad": "x" * 50}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.log", "audit.log.1"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert [e["n"] for e in sink.recent(3)] == [99, 98, 97]


# --- rights: callbacks reserved to a role -----------------------------------------------------

def test_a_viewer_asking_for_an_admin_callback_gets_403_and_an_admin_the_entries(basic_app):
    client = basic_app.server.test_client()
    client.get("/", headers=basic("vera", "wrong"))  # one entry for the admin to read
    assert _post_audit(client, basic_app, "vera").status_code == 403
    assert _post_audit(client, basic_app, "otto").status_code == 403
    shown = _post_audit(client, basic_app, "ada")
    assert shown.status_code == 200 and "wrong name or password" in shown.text
    forbidden = [e for e in audit_entries(basic_app) if e["event"] == "forbidden"]
    assert [(e["user"], e["role"]) for e in forbidden] == [("vera", "viewer"),
                                                            ("otto", "operator")]


def test_require_inside_a_callback_is_a_403_not_a_500(basic_app, monkeypatch):
    # Without the registry's early refusal, access.require raised in the callback itself
    # must still reach the browser as HTTP 403 (Dash 4.4 lets an HTTPException through).
    monkeypatch.delitem(access.GUARDED_OUTPUTS, ids.AUDIT_BODY)
    client = basic_app.server.test_client()
    answer = _post_audit(client, basic_app, "vera")
    assert answer.status_code == 403 and "may not audit" in answer.text


@pytest.mark.parametrize(("key", "found"), [
    ("audit-body.children", ["audit-body"]),
    ("..audit-modal.is_open...audit-body.children..", ["audit-modal", "audit-body"]),
    ("audit-body.children@3f2a", ["audit-body"]),
    ('{"index":["MATCH"],"type":"audit-body"}.children', ["audit-body"]),
    ("xaudit-body.children", ["xaudit-body"]),
    ("{broken.children", []),
])
def test_output_ids_are_read_from_the_key_dash_dispatches_on(key, found):
    assert login.output_ids(key) == found


def _post_audit(client, app, name):
    client.environ_base["HTTP_AUTHORIZATION"] = basic(name)["Authorization"]
    try:
        return call(client, app, f"{ids.AUDIT_BODY}.children",
                    {f"{ids.AUDIT_OPEN}.n_clicks": 1}, triggered=[f"{ids.AUDIT_OPEN}.n_clicks"])
    finally:
        del client.environ_base["HTTP_AUTHORIZATION"]


# --- proxy -----------------------------------------------------------------------------------

PROXY = """[auth]
mode = "proxy"
trusted_proxies = ["10.0.0.0/8", "::1"]
default_role = "{default}"
[auth.group_roles]
sre = "operator"
leads = "admin"
"""


@pytest.fixture
def proxy_app(write_config):
    def make(default="viewer"):
        return create_app(write_config(PROXY.format(default=default)))
    return make


@pytest.mark.parametrize(("groups", "shown"), [("", "bob (viewer)"), ("sre", "bob (operator)"),
                                               ("dev, sre,leads", "bob (admin)")])
def test_proxy_believes_the_user_header_from_a_trusted_peer(proxy_app, groups, shown):
    client = client_from(proxy_app(), "10.1.2.3")
    layout = client.get("/_dash-layout", headers={"X-Forwarded-User": "bob",
                                                  "X-Forwarded-Groups": groups})
    assert layout.status_code == 200
    assert props_of(layout.get_json(), ids.NAV_USER)["children"] == shown


@pytest.mark.parametrize("peer", ["192.0.2.7", "127.0.0.1"])
def test_proxy_refuses_the_header_from_any_other_peer_even_behind_x_forwarded_for(proxy_app,
                                                                                   peer):
    app = proxy_app()
    client = client_from(app, peer)
    answer = client.get("/", headers={"X-Forwarded-User": "bob", "X-Forwarded-For": "10.1.2.3"})
    assert answer.status_code == 401
    assert audit_entries(app)[-1] | {"time": 0} == {
        "time": 0, "event": "login", "result": "refused", "user": "bob", "role": "none",
        "addr": peer, "reason": "not a trusted proxy"}


def test_proxy_without_the_user_header_is_401(proxy_app):
    client = client_from(proxy_app(), "10.1.2.3")
    assert client.get("/").status_code == 401


def test_proxy_with_no_default_role_refuses_a_user_without_a_mapped_group(proxy_app):
    client = client_from(proxy_app(default=""), "10.0.0.1")
    assert client.get("/", headers={"X-Forwarded-User": "eve",
                                    "X-Forwarded-Groups": "dev"}).status_code == 403
    assert client.get("/", headers={"X-Forwarded-User": "eve",
                                    "X-Forwarded-Groups": "sre"}).status_code == 200


def test_served_proxy_mode_trusts_the_socket_peer_not_a_forwarded_header(write_config):
    # A real socket: 127.0.0.1 is the trusted proxy, 127.0.0.2 (also this machine) is not.
    app = create_app(write_config(PROXY.format(default="viewer").replace(
        '["10.0.0.0/8", "::1"]', '["127.0.0.1/32"]')))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answers = {peer: _get_from(peer, server.server_port, "/_dash-layout",
                                   {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "sre",
                                    "X-Forwarded-For": "127.0.0.1"})
                   for peer in ("127.0.0.1", "127.0.0.2")}
    finally:
        server.shutdown()
        server.server_close()
    assert answers["127.0.0.1"][0] == 200 and "bob (operator)" in answers["127.0.0.1"][1]
    assert answers["127.0.0.2"][0] == 401


def _get_from(source: str, port: int, path: str, headers: dict) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


# --- CSRF ------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://localhost",
                                      "Sec-Fetch-Site": "same-origin"}])
def test_a_post_from_another_site_is_refused(write_config, headers):
    app = create_app(write_config())
    client = app.server.test_client()
    answer = client.post("/_dash-update-component", data="{}", headers=headers,
                         content_type="application/json")
    assert answer.status_code == 403 and "another site" in answer.text
    assert audit_entries(app)[-1]["event"] == "csrf"


def test_a_same_origin_post_passes_with_the_token_dash_echoes_and_fails_without(write_config):
    client = create_app(write_config()).server.test_client()
    client.get("/")  # the page load sets the token cookie
    token = client.get_cookie(login.CSRF_COOKIE).value
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    post = {"data": "{}", "content_type": "application/json"}
    assert client.post("/_dash-update-component", headers=same, **post).status_code == 403
    answer = client.post("/_dash-update-component", headers={**same, "X-CSRFToken": token},
                         **post)
    assert answer.status_code not in (401, 403)  # past the door: Dash's own answer to "{}"


# --- the loopback rule -----------------------------------------------------------------------

def test_auth_none_answers_loopback_peers_only(write_config):
    app = create_app(write_config())
    assert app.server.test_client().get("/").status_code == 200
    far = client_from(app, "192.0.2.1")
    assert far.get("/").status_code == 403
    open_app = create_app(write_config("[server]\nallow_anonymous = true\n"))
    assert client_from(open_app, "192.0.2.1").get("/").status_code == 200


def test_check_exposure_allows_loopback_and_warns_when_allowed(write_config):
    assert login.check_exposure(write_config("[server]\nhost = \"localhost\"\n")) is None
    assert login.check_exposure(write_config("[server]\nhost = \"::1\"\n")) is None
    assert "admin" in login.check_exposure(
        write_config("[server]\nhost = \"0.0.0.0\"\nallow_anonymous = true\n"))
    assert login.check_exposure(
        write_config(f'[server]\nhost = "0.0.0.0"\n[auth]\nmode = "basic"\n{USERS}')) is None


def _refused(args, tmp_path, config_text=""):
    config = tmp_path / "s.toml"
    config.write_text(config_text)
    env = dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache"),
               STACKSCOPE_CONFIG=str(config))
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr.strip().splitlines()


def test_python_app_refuses_anonymous_serving_beyond_loopback_in_one_line(tmp_path):
    code, lines = _refused([sys.executable, "app.py", "--host", "0.0.0.0", "--port",
                            str(free_port())], tmp_path)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("stackscope: config error in command line: server.host = "
                               "'0.0.0.0': ")
    assert "auth.mode" in lines[0] and "server.allow_anonymous" in lines[0]


def test_gunicorn_refuses_anonymous_serving_beyond_loopback_in_one_line(tmp_path):
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    code, lines = _refused([gunicorn, "--no-control-socket", "-b", f"0.0.0.0:{free_port()}",
                            "app:server"], tmp_path)
    assert code == 2, lines
    ours = [line for line in lines if line.startswith("stackscope:")]
    assert len(ours) == 1 and "auth.mode" in ours[0] and "server.allow_anonymous" in ours[0]


# --- served for real, and hash-password ------------------------------------------------------

def test_a_served_app_with_basic_auth_asks_for_and_takes_a_login(tmp_path):
    port = free_port()
    config = tmp_path / "s.toml"
    config.write_text(f'[server]\nport = {port}\n[auth]\nmode = "basic"\n{USERS}')
    args = [sys.executable, "app.py", "--config", str(config)]
    with serve("app", args, tmp_path, port) as proc:
        assert requests.get(proc.url + "/", timeout=15).status_code == 401
        bad = requests.get(proc.url + "/", auth=("otto", "nope"), timeout=15)
        assert bad.status_code == 401 and "Basic" in bad.headers["WWW-Authenticate"]
        good = requests.get(proc.url + "/_dash-layout", auth=("otto", PASSWORD), timeout=15)
        assert good.status_code == 200 and "otto (operator)" in good.text


def test_hash_password_prints_a_hash_of_stdin_and_refuses_nothing():
    done = subprocess.run([sys.executable, "app.py", "hash-password"], cwd=REPO, text=True,
                          input="s3cret pass\n", capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert printed.startswith("scrypt:") and check_password_hash(printed, "s3cret pass")
    empty = subprocess.run([sys.executable, "app.py", "hash-password"], cwd=REPO, text=True,
                           input="", capture_output=True, timeout=60)
    assert empty.returncode == 2 and "no password" in empty.stderr


# --- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "key", "problem"), [
    ('[auth]\nmode = "basic"\n', "auth.mode = 'basic'", "needs at least one [[auth.users]]"),
    ('[auth]\nmode = "proxy"\n', "auth.mode = 'proxy'", "needs auth.trusted_proxies"),
    ('[auth]\nmode = "ldap"\n', "auth.mode = 'ldap'", "must be one of"),
    ('[[auth.users]]\nname = "a"\npassword_hash = "hunter2"\nrole = "admin"\n',
     "auth.users[0].password_hash = <secret: 7 characters>", "is not a hash"),
    (f'[[auth.users]]\nname = "a"\npassword_hash = "{HASH}"\nrole = "boss"\n',
     "auth.users[0].role = 'boss'", "must be one of"),
    (f'[[auth.users]]\nname = "a:b"\npassword_hash = "{HASH}"\nrole = "admin"\n',
     "auth.users[0].name = 'a:b'", "no colon"),
    ('[[auth.users]]\nname = "a"\nrole = "admin"\n', "auth.users[0].password_hash = <secret",
     "is required"),
    ('[auth]\ntrusted_proxies = ["10.0.0.300/8"]\n', "auth.trusted_proxies", "not an address"),
    ('[auth.group_roles]\nsre = "root"\n', "auth.group_roles", "a role must be one of"),
    ('[auth]\nproxy_header = "X User"\n', "auth.proxy_header", "HTTP header name"),
])
def test_a_bad_auth_setting_names_file_key_and_value(write_config, body, key, problem):
    with pytest.raises(ConfigError) as err:
        write_config(body)
    assert f": {key}" in str(err.value) and problem in str(err.value)
    assert HASH not in str(err.value)


def test_an_unknown_name_is_checked_against_a_hash_of_the_same_method():
    users = [{"name": "vera", "password_hash": HASH, "role": "viewer"}]
    basic_login = login.BasicLogin(users)
    assert basic_login.user("nobody", PASSWORD) is None
    assert basic_login.dummy().split("$")[0] == HASH.split("$")[0] == "pbkdf2:sha256:1000"
    assert basic_login.user("vera", PASSWORD) == access.User("vera", "viewer")
    assert basic_login.user("vera", PASSWORD + "x") is None


def test_an_address_that_keeps_guessing_gets_429_and_a_signed_in_user_is_not_slowed():
    users = [{"name": "vera", "password_hash": HASH, "role": "viewer"}]
    basic_login = login.BasicLogin(users, attempts=Limit(1, 60.0))
    assert basic_login.user("vera", PASSWORD, "10.0.0.1") == access.User("vera", "viewer")
    assert basic_login.user("vera", "guess", "10.0.0.2") is None
    with pytest.raises(TooManyRequests):
        basic_login.user("vera", "guess", "10.0.0.2")
    assert basic_login.user("vera", PASSWORD, "10.0.0.2") is not None  # remembered: no check
    assert basic_login.user("vera", "guess", "10.0.0.3") is None  # another address

"""[[actions]] in the configuration: read into Actions, or one line naming file, key and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import access
from config import ACTION_ROLES, Action, ConfigError, fill, load_config

REPO = Path(__file__).resolve().parents[1]
SERVICES = """
[[services]]
name = "API"
kind = "http"
port = 8000

[[services]]
name = "Redis"
kind = "tcp"
port = 6379
"""


def load(tmp_path, actions: str):
    path = tmp_path / "s.toml"
    path.write_text(SERVICES + actions)
    return load_config(str(path), env={})


def test_actions_are_read_with_their_defaults(tmp_path):
    config = load(tmp_path, """
[[actions]]
name = "Restart"
services = "API"
url = "http://127.0.0.1:8003/restart"
body = '{"service": "{service.name}", "port": {service.port}}'
headers = { Authorization = "Bearer tok-3f9a1c" }

[[actions]]
name = "Scale"
services = ["API", "Redis", "API"]
url = "https://ops.example/scale/{service}?replicas=2"
method = "PUT"
role = "admin"
confirm = "Scale it to 2?"
timeout = 120
""")
    restart, scale = config.actions
    assert restart == Action("Restart", ("API",), "http://127.0.0.1:8003/restart", "POST",
                             '{"service": "{service.name}", "port": {service.port}}',
                             {"Authorization": "Bearer tok-3f9a1c"}, "operator", "", 10.0)
    assert (scale.services, scale.method, scale.role, scale.timeout) == (
        ("API", "Redis"), "PUT", "admin", 120.0)
    assert config.actions_for("Redis") == (scale,)
    assert config.action("Restart", "Redis") is None and config.action("Scale", "Redis") == scale
    assert restart.question("API") == "Run Restart on API?"
    assert scale.question("API") == "Scale it to 2?"
    assert "tok-3f9a1c" not in repr(restart)


def test_no_actions_by_default(tmp_path):
    assert load(tmp_path, "").actions == ()


def test_the_roles_are_access_roles():
    assert ACTION_ROLES == access.ROLES


def test_fill_looks_names_up_never_attributes():
    assert fill("{service.__class__.__mro__} {service}", {"service": "api"}) == (
        "{service.__class__.__mro__} api")


ACTION = 'name = "Restart"\nservices = "API"\nurl = "http://127.0.0.1:8003/restart"\n'


@pytest.mark.parametrize("extra, key, value, says", [
    ('services = "Nope"', "actions[0].services", "'Nope'", "no [[services]] entry has this name"),
    ("services = []", "actions[0].services", "[]", "a non-empty list"),
    ("services = [1]", "actions[0].services", "[1]", "a non-empty list"),
    ('method = "PATCH"', "actions[0].method", "'PATCH'", "must be one of 'GET', 'POST'"),
    ('url = "ftp://h/x"', "actions[0].url", "'ftp://h/x'", "must be an http:// or https://"),
    ('url = ""', "actions[0].url", "''", "must not be empty"),
    ('url = "http://h:0/x"', "actions[0].url", "'http://h:0/x'", "bad port"),
    ('url = "http://h/{secret}"', "actions[0].url", "'http://h/{secret}'",
     "unknown placeholder {secret}"),
    ("body = '{\"s\": {service}}'", "actions[0].body", "'{\"s\": {service}}'",
     "not JSON once filled in"),
    ("body = 'x {service.__class__}'", "actions[0].body", "'x {service.__class__}'",
     "unknown placeholder {service.__class__}"),
    ('method = "GET"\nbody = "x"', "actions[0].body", "'x'", "a GET sends no body"),
    ('role = "root"', "actions[0].role", "'root'", "must be one of 'viewer'"),
    ("timeout = 0", "actions[0].timeout", "0", "between 0.1 and 120"),
    ("timeout = 121", "actions[0].timeout", "121", "between 0.1 and 120"),
    ('confirm = "a\\nb"', "actions[0].confirm", "'a\\nb'", "line breaks"),
    ('colour = "red"', "actions[0].colour", "'red'", "unknown key"),
])
def test_a_bad_action_names_file_key_and_value(tmp_path, extra, key, value, says):
    body = "\n".join(line for line in ACTION.splitlines()
                     if line.split(" =")[0] not in extra.split(" =")[0:1]) + "\n" + extra
    with pytest.raises(ConfigError) as err:
        load(tmp_path, "[[actions]]\n" + body + "\n")
    assert f"{tmp_path / 's.toml'}: {key} = {value}: " in str(err.value)
    assert says in str(err.value)


def test_a_duplicate_name_and_a_missing_url_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"actions\[1\].name = 'Restart': duplicate name"):
        load(tmp_path, f"[[actions]]\n{ACTION}\n[[actions]]\n{ACTION}")
    with pytest.raises(ConfigError, match=r"actions\[0\].url = None: is required"):
        load(tmp_path, '[[actions]]\nname = "R"\nservices = "API"\n')


def test_a_bad_header_never_shows_its_value(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f'[[actions]]\n{ACTION}headers = {{ "Bad Name" = "tok-3f9a1c" }}\n')
    assert "actions[0].headers = <secret: dict>" in str(err.value)
    assert "tok-3f9a1c" not in str(err.value)


def test_the_command_exits_2_with_one_line(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SERVICES + '[[actions]]\nname = "R"\nservices = "Nope"\nurl = "http://h/"\n')
    done = subprocess.run([sys.executable, str(REPO / "app.py"), "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"stackscope: config error in {path}: actions[0].services = 'Nope': no [[services]] "
        "entry has this name (known: API, Redis)"]

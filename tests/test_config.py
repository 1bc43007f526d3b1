"""Configuration: precedence, defaults, and bad values named with file, key and value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from config import SETTINGS, TABLES, ConfigError, check_cache_dir, load_config

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_what_make_run_starts(tmp_path):
    config = load_config(env={}, cwd=tmp_path)
    assert config.source == "built-in defaults"
    assert [(s.name, s.kind, s.port, s.path) for s in config.services] == [
        ("Redis", "tcp", 6379, "/"), ("NGINX", "http", 8080, "/"),
        ("Backend API", "http", 8000, "/health"), ("Prometheus", "http", 9090, "/-/ready"),
        ("Alertmanager", "http", 9093, "/-/ready"),
        ("node_exporter", "http", 9100, "/metrics"), ("Loki", "http", 3100, "/ready")]
    assert (config.refresh.status, config.refresh.metrics, config.refresh.logs) == (3, 5, 10)
    assert config.server.port == 8050


@pytest.mark.parametrize("log_store", [False, True])
def test_default_services_are_the_ones_make_run_writes_on_its_default_ports(tmp_path,
                                                                          log_store):
    from stack import run

    ports = {p.key: p.default for p in run.PORTS}
    stack = run.Stack(dir=tmp_path, host="127.0.0.1", ports=ports, log_store=log_store)
    (tmp_path / "s.toml").write_text(run.dashboard_toml(stack, 8050))
    written = {(s.kind, s.host, s.port, s.path) for s in
               load_config(str(tmp_path / "s.toml"), env={}).services}
    defaults = {(s.kind, s.host, s.port, s.path)
                for s in load_config(env={}, cwd=tmp_path).services}
    # make run also shows a Frontend it does not run (Offline on purpose) and Promtail when
    # Loki is installed: every default is among what it writes, and nothing it starts is left out.
    assert defaults <= written
    assert written - defaults <= {("http", "127.0.0.1", 3000, "/"),
                                  ("http", "127.0.0.1", ports["promtail"], "/ready")}


def test_precedence_is_flag_then_env_then_file_then_default(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[prometheus]\nurl = "http://127.0.0.1:1"\n[server]\nport = 9001\n')
    env = {"STACKSCOPE_PROMETHEUS_URL": "http://127.0.0.1:2"}
    assert load_config(str(path), env={}).prometheus.url == "http://127.0.0.1:1"
    assert load_config(str(path), env=env).prometheus.url == "http://127.0.0.1:2"
    assert load_config(str(path), env={}, flags={"server.port": 9002}).server.port == 9002
    assert load_config(str(path), env={}).server.port == 9001
    assert load_config(str(path), env={}).loki.url == "http://127.0.0.1:3100"


def test_file_is_found_by_env_then_working_directory(tmp_path):
    (tmp_path / "stackscope.toml").write_text("[server]\nport = 9100\n")
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 9200\n")
    assert load_config(env={}, cwd=tmp_path).server.port == 9100
    assert load_config(env={"STACKSCOPE_CONFIG": str(other)}, cwd=tmp_path).server.port == 9200


def test_services_table_shape(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('''
[[services]]
name = "Prometheus"
kind = "http"
host = "127.0.0.1"
port = 9090
path = "/-/ready"
timeout = 1.0
group = "monitoring"
expect_status = [200, 399]
keyword = "Ready"

[[services]]
name = "Redis"
kind = "tcp"
port = 6379
''')
    prom, redis = load_config(str(path), env={}).services
    assert prom.target == "http://127.0.0.1:9090/-/ready"
    assert (prom.timeout, prom.group, prom.expect_status, prom.keyword) == (
        1.0, "monitoring", (200, 399), "Ready")
    assert redis.target == "tcp://127.0.0.1:6379"
    assert (redis.timeout, redis.group) == (2.0, "")


def test_secrets_come_from_env(tmp_path):
    env = {"STACKSCOPE_PROMETHEUS_BEARER_TOKEN": "s3cret", "STACKSCOPE_LOKI_USERNAME": "u",
           "STACKSCOPE_LOKI_PASSWORD": "p", "STACKSCOPE_LOKI_TENANT": "team-a",
           "STACKSCOPE_CACHE_DIR": str(tmp_path / "c")}
    config = load_config(env=env, cwd=tmp_path)
    assert config.prometheus.bearer_token == "s3cret"
    assert (config.loki.username, config.loki.password, config.loki.tenant) == ("u", "p", "team-a")
    assert config.cache.dir == str(tmp_path / "c")


BAD = [
    ('[[services]]\nname = "A"\nkind = "udp"\nport = 1\n', "services[0].kind", "'udp'"),
    ('[[services]]\nname = "A"\nkind = "tcp"\nport = 70000\n', "services[0].port", "70000"),
    ('[[services]]\nname = "A"\nkind = "tcp"\nport = 1\n'
     '[[services]]\nname = "A"\nkind = "tcp"\nport = 2\n', "services[1].name", "'A'"),
    ('[[services]]\nname = "A"\nkind = "tcp"\nport = "80"\n', "services[0].port", "'80'"),
    ('[[services]]\nname = "A"\nkind = "tcp"\n', "services[0].port", "None"),
    ('[[services]]\nname = "A"\nkind = "tcp"\nport = 1\nprot = 2\n', "services[0].prot", "2"),
    ('[[services]]\nname = "A"\nkind = "http"\nport = 1\nexpect_status = [400, 200]\n',
     "services[0].expect_status", "[400, 200]"),
    ('[server]\nport = 0\n', "server.port", "0"),
    ('[refresh]\nstatus = -1\n', "refresh.status", "-1"),
    ('[prometheus]\nurl = "localhost:9090"\n', "prometheus.url", "'localhost:9090'"),
    ('[prometheus]\nurll = "http://x"\n', "prometheus.urll", "'http://x'"),
    ('[promethus]\nurl = "http://x"\n', "promethus", "{'url': 'http://x'}"),
    ('[[redact]]\npattern = "token=([a-z"\n', "redact[0].pattern", "'token=([a-z'"),
]


@pytest.mark.parametrize(("body", "key", "value"), BAD)
def test_bad_value_names_file_key_and_value(tmp_path, body, key, value):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env={})
    message = str(err.value)
    assert str(path) in message and f"{key} = {value}" in message


def test_bad_toml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nport = = 1\n')
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_config(str(path), env={})


def test_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment STACKSCOPE_PROMETHEUS_URL"):
        load_config(env={"STACKSCOPE_PROMETHEUS_URL": "ftp://x"}, cwd=tmp_path)


@pytest.mark.parametrize("argv", [["check", "--config", "F"], ["--config", "F", "check"],
                                  ["--config", "F"]])
def test_cli_config_error_exits_2_with_one_line_and_no_traceback(tmp_path, argv):
    path = tmp_path / "bad.toml"
    path.write_text('[[services]]\nname = "A"\nkind = "tcp"\nport = 70000\n')
    argv = [str(path) if a == "F" else a for a in argv]
    proc = subprocess.run([sys.executable, "app.py", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines == [f"stackscope: config error in {path}: services[0].port = 70000: "
                     "must be a port number between 1 and 65535"]


def test_missing_config_file_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "app.py", "check", "--config",
                           str(tmp_path / "nope.toml")], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "nope.toml" in proc.stderr and "file not found" in proc.stderr


def test_values_at_the_edges_of_their_ranges_are_accepted(tmp_path):
    host = ".".join(["a" * 63] * 4)[:253]
    path = tmp_path / "edge.toml"
    path.write_bytes("\ufeff".encode() + f'''# a byte-order mark first, as Windows editors write
[server]
host = "::1"
port = 65535
[refresh]
status = 0.5
metrics = 86400
[cache]
status_ttl = 0.01
[prometheus]
url = "https://user:pw@prom.example.com:9090/prometheus/"
timeout = 3600
[prometheus.headers]
X-Note = "tab\there, café"
[loki]
url = "http://[::1]:3100"
[metrics]
max_data_points = 11000
min_step = 0.001
[logs]
limit = 5000
[[services]]
name = "Edge"
kind = "tcp"
host = "{host}"
port = 1
timeout = 3600
[[panels]]
title = "Rate"
query = """sum by (job) (
  rate(x[5m])
)"""
[[redact]]
pattern = "token=\\\\S+"
'''.encode())
    config = load_config(str(path), env={})
    assert (config.server.host, config.server.port, config.refresh.status) == ("::1", 65535, 0.5)
    assert config.prometheus.headers == {"X-Note": "tab\there, café"}
    assert config.loki.url == "http://[::1]:3100" and config.logs.limit == 5000
    assert config.services[0].host == host and len(host) == 253
    assert config.panels[0].query.count("\n") == 2 and config.redact[0].pattern == r"token=\S+"


def test_origin_names_where_each_value_came_from(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[server]\nport = 9001\n")
    env = {"STACKSCOPE_CACHE_DIR": str(tmp_path / "c")}
    config = load_config(str(path), env=env, flags={"server.host": "127.0.0.2"})
    assert [config.origin(k) for k in ("server.port", "cache.dir", "server.host", "logs.limit")] \
        == [str(path), "environment STACKSCOPE_CACHE_DIR", "command line", "built-in defaults"]


def test_cache_dir_is_created_and_must_be_a_writable_directory(tmp_path):
    wanted = tmp_path / "a" / "b"
    assert check_cache_dir(load_config(env={"STACKSCOPE_CACHE_DIR": str(wanted)},
                                       cwd=tmp_path)) == wanted
    assert wanted.is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match=r"environment STACKSCOPE_CACHE_DIR: cache.dir = .*"
                                          r"exists and is not a directory"):
        check_cache_dir(load_config(env={"STACKSCOPE_CACHE_DIR": str(tmp_path / "f")},
                                    cwd=tmp_path))


def test_readme_documents_every_setting():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([^`]+)`", readme, flags=re.M))
    missing = [s.key for s in SETTINGS if s.key not in documented]
    missing += [f"{table}.{f.name}" for table, fields in TABLES.items() for f in fields
                if f"{table}.{f.name}" not in documented]
    missing += [s.env for s in SETTINGS if s.env and s.env not in readme]
    assert missing == []


@pytest.mark.parametrize("login", ['bearer_token = "tok-3f9a1c"',
                                   'username = "ops"\npassword = "pw-other"'])
def test_url_user_info_with_a_token_or_basic_auth_names_both_keys(tmp_path, login):
    path = tmp_path / "s.toml"
    path.write_text(f'[loki]\nurl = "http://ops:pw-77d2e0@127.0.0.1:3100"\n{login}\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path), env={})
    text = str(err.value)
    assert text.startswith(f"config error in {path}: loki.url = "
                           "'http://[redacted]@127.0.0.1:3100': has user-info and loki.")
    assert ("loki.bearer_token" if "bearer" in login else "loki.username and loki.password") \
        in text
    assert "pw-77d2e0" not in text


def test_url_user_info_alone_is_basic_auth_and_a_secret(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[loki]\nurl = "http://ops:pw%2F77@127.0.0.1:3100"\n')
    secrets = load_config(str(path), env={}).loki.secrets
    assert {"pw%2F77", "pw/77", "b3BzOnB3Lzc3"} <= set(secrets)  # base64 of "ops:pw/77"


def test_response_caps_are_per_upstream_in_mib(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[prometheus]\nmax_response_mb = 0.5\n')
    config = load_config(str(path), env={})
    assert config.prometheus.max_response_bytes == 512 * 1024
    assert config.loki.max_response_bytes == 64 << 20
    assert config.alertmanager.max_response_bytes == 16 << 20


# --- status: https services, retries, maintenance windows -----------------------------------

SVC = '[[services]]\nname = "db"\nkind = "tcp"\nport = 5432\n'


def loaded(tmp_path, body: str):
    path = tmp_path / "s.toml"
    path.write_text(body)
    return load_config(str(path), env={})


def test_https_services_retries_and_maintenance_windows_load(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until a probe")
    config = loaded(tmp_path, SVC + f"""retries = 3
[[services]]
name = "web"
kind = "https"
port = 443
tls_verify = true
tls_warn_days = 30
tls_ca_file = "{ca}"
[[maintenance]]
service = "db"
start = "2026-12-06T03:00:00Z"
end = 2026-12-06T04:00:00Z
reason = "upgrade"
[[maintenance]]
cron = "0 3 * * sun"
duration = "2h"
""")
    db, web = config.services
    assert (db.retries, web.retries) == (3, 1)
    assert (web.target, web.tls_warn_days, web.tls_ca_file) == ("https://127.0.0.1:443/", 30.0,
                                                                str(ca))
    one_off, weekly = config.maintenance
    assert (one_off.service, one_off.end - one_off.start, one_off.reason) == ("db", 3600, "upgrade")
    assert (weekly.service, weekly.duration) == ("*", 7200)


@pytest.mark.parametrize(("body", "named", "says"), [
    (SVC + "retries = -1", "services[0].retries = -1", "between 0 and 100"),
    (SVC.replace('"tcp"', '"ftp"'), "services[0].kind = 'ftp'", "'https'"),
    (SVC + "tls_warn_days = 5000", "services[0].tls_warn_days = 5000", "between 0 and 3650"),
    (SVC + 'tls_ca_file = "/no/such/ca.pem"', "services[0].tls_ca_file = '/no/such/ca.pem'",
     "no such file"),
    (SVC + '[[maintenance]]\nservice = "dbx"\ncron = "@daily"\nduration = "1h"',
     "maintenance[0].service = 'dbx'", "no service has this name"),
    (SVC + '[[maintenance]]\ncron = "0 3 * *"\nduration = "1h"',
     "maintenance[0].cron = '0 3 * *'", "needs 5 fields"),
    (SVC + '[[maintenance]]\ncron = "0 3 * * sun"\nduration = "2 hours"',
     "maintenance[0].duration = '2 hours'", "not a duration"),
    (SVC + '[[maintenance]]\ncron = "0 3 * * sun"', "maintenance[0].duration = None",
     "is required with cron"),
    (SVC + '[[maintenance]]\nstart = "tomorrow"\nend = "2026-12-06T04:00"',
     "maintenance[0].start = 'tomorrow'", "ISO 8601"),
    (SVC + '[[maintenance]]\nstart = "2026-12-06T04:00"\nend = "2026-12-06T03:00"',
     "maintenance[0].end = '2026-12-06T03:00'", "must be after start"),
    (SVC + '[[maintenance]]\nstart = "2026-12-06T03:00"\nend = "2026-12-06T04:00"\n'
     'cron = "@daily"\nduration = "1h"', "maintenance[0] = ", "either start and end"),
    (SVC + "[[maintenance]]\nreason = 'nothing'", "maintenance[0] = ", "either start and end"),
])
def test_bad_status_settings_name_file_key_and_value(tmp_path, body, named, says):
    with pytest.raises(ConfigError) as caught:
        loaded(tmp_path, body)
    message = str(caught.value)
    assert named in message and says in message and "s.toml" in message
def test_a_panel_axis_is_read_into_its_panel(tmp_path):
    from query.panels import configured
    from query.y_axis import Threshold, YAxis

    path = tmp_path / "s.toml"
    path.write_text('[[panels]]\ntitle = "Load"\nquery = "up"\ny_scale = "log"\ny_min = 0.5\n'
                    'y_max = 100\nthresholds = [10, {value = 50, color = "#fd7e14"}]\n'
                    '[[panels]]\ntitle = "Plain"\nquery = "up"\n')
    load, plain = configured(load_config(str(path), env={}).panels)
    assert load.y == YAxis("log", 0.5, 100.0, (Threshold(10.0), Threshold(50.0, "#fd7e14")))
    assert plain.y.plain

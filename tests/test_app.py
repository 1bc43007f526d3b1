"""The app as a process: `python app.py` serves / and /health, `check` exits 0/1/2."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from app import create_app
from stack import services
from stack.services import free_port

REPO = Path(__file__).resolve().parents[1]


def serve(name: str, args, tmp_path, port: int, env=None) -> services.Proc:
    """Start ``args`` from the repository; ready once /health answers 200."""
    env = dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache"), **(env or {}))
    # A worker builds the app on its first request: give it time on a busy machine.
    return services.start_server(name, args, tmp_path / name, port=port, cwd=REPO, env=env,
                                 url=f"http://127.0.0.1:{port}", timeout=60,
                                 ready=services.http_ready("/health", timeout=15))


def test_python_app_serves_page_health_and_local_bootstrap(tmp_path):
    port = free_port()
    with serve("app", [sys.executable, "app.py", "--port", str(port)], tmp_path, port) as proc:
        base = proc.url
        health = requests.get(base + "/health", timeout=15)
        assert (health.status_code, health.text) == (200, "OK")
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200 and "<title>stackscope</title>" in page.text
        assert "/vendor/bootstrap.min.css" in page.text and "cdn" not in page.text.lower()
        css = requests.get(base + "/vendor/bootstrap.min.css", timeout=5)
        assert css.status_code == 200 and "Bootstrap" in css.text[:200]


def test_gunicorn_serves_app_server(tmp_path):
    port = free_port()
    args = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--no-control-socket", "app:server"]
    with serve("gunicorn", args, tmp_path, port) as proc:
        assert requests.get(proc.url + "/health", timeout=15).status_code == 200


# --- serving under load: [server] settings reach waitress and gunicorn ---------------------

IDLE = 150  # keep-alive connections left open: more than waitress' default limit of 100


def served(tmp_path, server: str, body: str = "", *extra: str) -> services.Proc:
    """``python app.py`` or ``gunicorn app:server`` (gunicorn.conf.py) on a free port."""
    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(f"[server]\nport = {port}\n{body}")
    if server == "waitress":
        args = [sys.executable, "app.py", "--config", str(config)]
    else:  # the settings come from gunicorn.conf.py, read from the repository by default
        args = [str(Path(sys.executable).parent / "gunicorn"), "--no-control-socket", *extra,
                "app:server"]
    env_config = {"STACKSCOPE_CONFIG": str(config)}
    return serve(server, args, tmp_path, port, env_config)


def idle_connections(url: str, count: int) -> list[socket.socket]:
    """``count`` connections that each got one answer and stay open, idle, as a browser's."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conns = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=30)
        conns.append(sock)
        sock.sendall(HEALTH)
        assert health_answer(sock).startswith(b"HTTP/1.1 200")
    return conns


HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def health_answer(sock: socket.socket) -> bytes:
    """The whole answer to ``HEALTH``, read to its body's end (TimeoutError if none comes)."""
    answer = b""
    while not answer.endswith(b"\r\n\r\nOK"):
        chunk = sock.recv(4096)
        assert chunk, answer
        answer += chunk
    return answer


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_a_new_viewer_is_answered_while_150_idle_connections_are_open(tmp_path, server):
    with served(tmp_path, server) as proc:
        conns = idle_connections(proc.url, IDLE)
        try:
            layout = requests.get(proc.url + "/_dash-layout", timeout=15)
            assert layout.status_code == 200 and "stackscope" in layout.text
        finally:
            for sock in conns:
                sock.close()


def test_waitress_takes_connection_limit_threads_and_channel_timeout_from_config(tmp_path):
    body = "connection_limit = 20\nthreads = 48\nchannel_timeout = 5\n"
    with served(tmp_path, "waitress", body) as proc:
        assert psutil.Process(proc.popen.pid).num_threads() > 48
        answered, late = [], None
        while late is None and len(answered) < 25:
            sock = socket.create_connection((proc.host, proc.port), timeout=1)
            sock.sendall(HEALTH)
            try:
                assert health_answer(sock).startswith(b"HTTP/1.1 200")
                answered.append(sock)
            except TimeoutError:  # past the limit waitress stops accepting: this one waits…
                late = sock
        # (waitress counts its own listening socket and wake-up pipe against the limit)
        assert late is not None and 16 <= len(answered) <= 20, len(answered)
        # … until channel_timeout (5 s) closes the idle ones, which lets it in.
        late.settimeout(30)
        assert health_answer(late).startswith(b"HTTP/1.1 200")
        assert [sock.recv(1) for sock in answered] == [b""] * len(answered)
        for sock in (late, *answered):
            sock.close()


def test_gunicorn_conf_runs_threaded_workers_sized_from_config(tmp_path):
    body = "threads = 3\nconnection_limit = 40\nchannel_timeout = 7\n"
    with served(tmp_path, "gunicorn", body, "--log-level", "debug") as proc:
        assert requests.get(proc.url + "/_dash-layout", timeout=15).status_code == 200
        log = proc.log_path.read_text()
        assert "Using worker: gthread" in log and "Booting worker" in log
        settings = {key: value for key, _, value in (
            line[2:].partition(": ") for line in log.splitlines() if line.startswith("  "))}
        assert {k: settings[k] for k in ("worker_class", "threads", "worker_connections",
                                         "keepalive", "preload_app", "bind")} == {
            "worker_class": "gthread", "threads": "3", "worker_connections": "40",
            "keepalive": "7", "preload_app": "False", "bind": f"['127.0.0.1:{proc.port}']"}
        workers = psutil.Process(proc.popen.pid).children()
        assert len(workers) == 2  # WEB_CONCURRENCY unset: gunicorn.conf.py's 2


def test_gunicorn_conf_refuses_a_bad_server_setting_in_one_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nthreads = 0\n")
    proc = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "--no-control-socket",
                           "app:server"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, STACKSCOPE_CONFIG=str(config)))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == (f"stackscope: config error in {config}: server.threads = 0: "
                           "must be between 1 and 256\n")


def test_a_connection_limit_beyond_the_hard_file_limit_is_a_config_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f"[server]\nport = {free_port()}\nconnection_limit = 5000\n")

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 2048))

    proc = subprocess.run([sys.executable, "app.py", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, preexec_fn=low_limit,
                          env=dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache")))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"stackscope: config error in {config}: "
                                  "server.connection_limit = 5000: needs 5200 open files")


def check(tmp_path, toml: str, *flags: str):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    return subprocess.run([sys.executable, "app.py", "check", "--config", str(path), *flags],
                          cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache")))


def test_check_exits_0_when_all_up(tmp_path, redis_server, nginx_server):
    proc = check(tmp_path, f"""
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
[[services]]
name = "NGINX"
kind = "http"
port = {nginx_server.port}
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "TARGET", "STATE", "LATENCY", "DETAIL"]
    assert lines[1].split()[:4] == ["Redis", "tcp", f"tcp://127.0.0.1:{redis_server.port}", "up"]
    assert lines[2].split()[-2:] == ["HTTP", "200"]
    assert lines[-1] == "2/2 services up"


def test_check_exits_1_when_any_is_down(tmp_path, redis_server, closed_port):
    proc = check(tmp_path, f"""
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
[[services]]
name = "Gone"
kind = "http"
port = {closed_port}
""")
    assert proc.returncode == 1
    gone = next(x for x in proc.stdout.splitlines() if x.startswith("Gone"))
    assert "DOWN" in gone and gone.endswith("connection refused")
    assert proc.stdout.splitlines()[-1] == "1/2 services up"


def test_check_json_is_one_document_for_scripts(tmp_path, redis_server, closed_port):
    proc = check(tmp_path, f"""
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
[[services]]
name = "Gone"
kind = "http"
port = {closed_port}
""", "--json")
    assert proc.returncode == 1 and proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert (doc["up"], doc["down"], doc["total"]) == (1, 1, 2)
    redis, gone = doc["services"]
    assert set(redis) == {"name", "kind", "target", "group", "state", "up", "latency_ms",
                          "detail", "cert_days", "checked_at"}
    assert (redis["name"], redis["state"], redis["up"], redis["cert_days"]) == (
        "Redis", "up", True, None)
    assert redis["latency_ms"] > 0 and abs(redis["checked_at"] - time.time()) < 60
    assert (gone["state"], gone["up"], gone["latency_ms"], gone["detail"]) == (
        "down", False, None, "connection refused")


def test_check_runs_the_known_answer_query_of_a_service_that_is_the_prometheus(
        tmp_path, nginx_server):
    # NGINX configured as Prometheus: it accepts the probe, but not the query.
    proc = check(tmp_path, f"""
[prometheus]
url = "{nginx_server.url}"
[[services]]
name = "Prometheus"
kind = "http"
port = {nginx_server.port}
""", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [prom] = json.loads(proc.stdout)["services"]
    assert (prom["state"], prom["up"]) == ("degraded", True)
    assert prom["detail"].startswith("up, but queries fail: Prometheus "), prom["detail"]


def test_check_counts_a_service_in_maintenance_as_not_down(tmp_path, redis_server, closed_port):
    proc = check(tmp_path, f"""
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
[[services]]
name = "Gone"
kind = "tcp"
port = {closed_port}
[[maintenance]]
service = "Gone"
cron = "* * * * *"
duration = "1m"
reason = "moving racks"
""")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gone = next(x for x in proc.stdout.splitlines() if x.startswith("Gone"))
    assert gone.split()[3] == "maintenance"
    assert gone.endswith("maintenance (moving racks); probe: down, connection refused")


def test_a_request_body_over_the_cap_gets_413_before_dash_reads_it(write_config):
    config = write_config("[server]\nmax_request_mb = 1\n")
    client = create_app(config).server.test_client()
    big = client.post("/_dash-update-component", data=b"x" * (2 << 20),
                      content_type="application/json")
    assert big.status_code == 413


@pytest.mark.parametrize("body", [
    # the Prometheus section's output before it was split into parts (a tab left open across
    # the upgrade posts exactly this)
    {"output": "..status-prom-section.children...alerts-severity-filter.options..",
     "outputs": [{"id": "status-prom-section", "property": "children"},
                 {"id": "alerts-severity-filter", "property": "options"}],
     "inputs": [], "state": [], "changedPropIds": []},
    {"inputs": []}, [], "x"])
def test_a_callback_this_version_does_not_have_is_a_400_saying_to_reload(
        write_config, caplog, body):
    client = create_app(write_config("")).server.test_client()
    resp = client.post("/_dash-update-component", data=json.dumps(body),
                       content_type="application/json")
    assert resp.status_code == 400
    assert "reload it" in resp.get_data(as_text=True)
    assert "Traceback" not in caplog.text


def test_a_served_page_carries_the_latest_status_round_so_cards_need_no_callback(
        write_config, redis_server, closed_port):
    config = write_config(f"""
[[services]]
name = "Redis"
kind = "tcp"
port = {redis_server.port}
[[services]]
name = "Gone"
kind = "tcp"
port = {closed_port}
""")
    served = create_app(config, probe_in_background=True).server.test_client()
    page = json.dumps(served.get("/_dash-layout").get_json())
    assert "1/2 services up" in page and page.count("status-card ") >= 2, page[:500]
    assert "Redis" in page and "Gone" in page
    # with their history: the heartbeat bar and the incidents table come with the page too
    assert "heartbeat" in page and '"id": "status-incidents"' in page
    # An app that does not probe on its own (tests) leaves the cards to the callback.
    bare = json.dumps(create_app(config).server.test_client().get("/_dash-layout").get_json())
    assert "services up" not in bare


@pytest.mark.parametrize(("referrer", "tab"), [
    ("http://127.0.0.1:8050/?tab=logs&logs.from=now-7d", "logs"),
    ("http://127.0.0.1:8050/?tab=metrics", "metrics"),
    ("http://127.0.0.1:8050/?tab=bogus", "status"),
    ("http://127.0.0.1:8050/?" + "&".join(f"k{i}=1" for i in range(200)), "status"),
    (None, "status"),
])
def test_the_page_opens_on_the_tab_its_url_names(write_config, referrer, tab):
    client = create_app(write_config()).server.test_client()
    headers = {"Referer": referrer} if referrer else {}
    page = client.get("/_dash-layout", headers=headers)
    assert page.status_code == 200
    assert props_of(page.get_json(), "tabs")["value"] == tab


def props_of(node, component_id: str) -> dict | None:
    """The props of the component ``component_id`` in a Dash layout's JSON."""
    if isinstance(node, list):
        return next((p for n in node if (p := props_of(n, component_id))), None)
    if not isinstance(node, dict) or "props" not in node:
        return None
    if node["props"].get("id") == component_id:
        return node["props"]
    return props_of(node["props"].get("children"), component_id)

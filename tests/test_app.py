"""The app as a process: `python app.py` serves / and /health, `check` exits 0/1/2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from app import create_app
from stack.services import free_port

REPO = Path(__file__).resolve().parents[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            # A worker builds the app on its first request: give it time on a busy machine.
            return requests.get(url, timeout=15)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def serve(args, tmp_path, **env):
    environ = dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache"), **env)
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_python_app_serves_page_health_and_local_bootstrap(tmp_path):
    port = free_port()
    proc = serve(["app.py", "--port", str(port)], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_up(base + "/health", proc)
        assert (health.status_code, health.text) == (200, "OK")
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200 and "<title>stackscope</title>" in page.text
        assert "/vendor/bootstrap.min.css" in page.text and "cdn" not in page.text.lower()
        css = requests.get(base + "/vendor/bootstrap.min.css", timeout=5)
        assert css.status_code == 200 and "Bootstrap" in css.text[:200]
    finally:
        proc.terminate()
        proc.wait(10)


def test_gunicorn_serves_app_server(tmp_path):
    port = free_port()
    proc = serve([str(Path(sys.executable).parent / "gunicorn"), "--bind",
                  f"127.0.0.1:{port}", "--workers", "2", "app:server"], tmp_path)
    try:
        assert wait_up(f"http://127.0.0.1:{port}/health", proc).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def check(tmp_path, toml: str):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    return subprocess.run([sys.executable, "app.py", "check", "--config", str(path)], cwd=REPO,
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


def test_a_request_body_over_the_cap_gets_413_before_dash_reads_it(write_config):
    config = write_config("[server]\nmax_request_mb = 1\n")
    client = create_app(config).server.test_client()
    big = client.post("/_dash-update-component", data=b"x" * (2 << 20),
                      content_type="application/json")
    assert big.status_code == 413

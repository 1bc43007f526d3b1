"""The app as a process: `python app.py` serves / and /health, `check` exits 0/1/2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from app import create_app
from stack import services
from stack.services import free_port

REPO = Path(__file__).resolve().parents[1]


def serve(name: str, args, tmp_path, port: int) -> services.Proc:
    """Start ``args`` from the repository; ready once /health answers 200."""
    env = dict(os.environ, STACKSCOPE_CACHE_DIR=str(tmp_path / "cache"))
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
            "--workers", "2", "app:server"]
    with serve("gunicorn", args, tmp_path, port) as proc:
        assert requests.get(proc.url + "/health", timeout=15).status_code == 200


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

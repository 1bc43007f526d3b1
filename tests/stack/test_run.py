"""`make run`'s stack, started the way stack.run starts it, in a temp dir on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from config import load_config
from stack import history, run, services
from stack.poll import until

REPO = Path(__file__).resolve().parents[2]
WEEK = 7 * 86_400
WAIT = 30  # seconds a live condition may take: scrapes, rule evaluations, log lines


def get_json(url: str, **params):
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(url + query, timeout=10) as resp:
        return json.loads(resp.read())


def promql(stack, query: str, **params) -> list:
    body = get_json(stack.url("prometheus") + "/api/v1/query", query=query, **params)
    assert body["status"] == "success", body
    return body["data"]["result"]


def processes_under(directory: Path) -> list[psutil.Process]:
    """Running processes whose command line names ``directory`` (every server's does)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(directory) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def start_stack(directory: Path, **kwargs) -> run.Stack:
    """The whole stack on free ports, scraping and evaluating every second."""
    return run.start_stack(directory, run.resolve_ports({}, {}, free=True), scrape_interval="1s",
                           evaluation_interval="1s", say=lambda line: None, **kwargs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The whole stack with a week of history, shared by this module's tests: none stops it."""
    made = start_stack(tmp_path_factory.mktemp("stack"))
    yield made
    made.stop()


def test_prometheus_holds_a_week_of_history(stack):
    assert stack.history.generated
    assert stack.history.end - stack.history.start == WEEK + 3600
    selector = 'http_requests_total{route="/api/items/:id", status="200"}'
    samples = promql(stack, f"count_over_time({selector}[8d])")
    assert len(samples) == 1  # the live series continues the history's: same labels
    assert int(samples[0]["value"][1]) >= 6.5 * 86_400 / history.RESOLUTION
    oldest = promql(stack, f"min_over_time(timestamp({selector})[8d:1h])")
    assert time.time() - float(oldest[0]["value"][1]) >= 6.5 * 86_400


def test_node_history_continues_into_the_live_scrape(stack):
    node = f"{stack.host}:{stack.ports['node_exporter']}"
    until(lambda: promql(stack, f'up{{job="node", instance="{node}"}} == 1'), WAIT)
    idle = f'node_cpu_seconds_total{{cpu="0", mode="idle", instance="{node}"}}'
    counted = promql(stack, f"count_over_time({idle}[8d])")
    assert int(counted[0]["value"][1]) >= 6.5 * 86_400 / history.RESOLUTION
    latest = until(lambda: promql(stack, f"time() - timestamp({idle}) < 5"), WAIT)
    assert len(latest) == 1


def test_the_incident_shows_at_the_week_range(stack):
    ratio = ('sum(rate(http_requests_total{status=~"5.."}[10m]))'
             " / sum(rate(http_requests_total[10m]))")
    start, end = history.story(stack.history.end).incident
    during = promql(stack, ratio, time=(start + end) / 2)
    day_before = promql(stack, ratio, time=(start + end) / 2 - 86_400)
    assert float(during[0]["value"][1]) > 0.15 > 0.03 > float(day_before[0]["value"][1])
    versions = promql(stack, "count by (version) (count_over_time(app_build_info[8d]))")
    assert {v["metric"]["version"] for v in versions} == {"1.3.2", "1.4.0", "1.4.1", "1.5.0"}


def test_every_scrape_target_is_up(stack):
    jobs = {"prometheus", "node", "api", "alertmanager"}
    up = until(lambda: {r["metric"]["job"] for r in promql(stack, "up == 1")} >= jobs, WAIT)
    assert up


def test_demo_api_serves_health_metrics_and_writes_json_logs(stack):
    assert get_json(stack.url("nginx") + "/health")["status"] == "ok"  # through NGINX
    with urllib.request.urlopen(stack.url("api") + "/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    for name in ("http_requests_total", "http_request_duration_seconds_bucket",
                 "http_active_connections", "cache_hits_total", "cache_misses_total",
                 'app_build_info{version="1.5.0"}'):
        assert name in metrics
    log = stack.dir / "logs" / "api.log"

    def requests_logged():
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        return [x for x in lines if x["logger"] == "api.http"]

    lines = until(requests_logged, 30)
    assert set(lines[0]) >= {"timestamp", "level", "logger", "message", "request_id", "user_id",
                             "trace_id", "span_id"}
    # Its own traffic goes through NGINX, so NGINX logs it too.
    assert until(lambda: "/api/" in (stack.dir / "nginx" / "access.log").read_text(), WAIT)


def test_alerts_reach_alertmanager(stack):
    def firing():
        alerts = get_json(stack.url("alertmanager") + "/api/v2/alerts")
        return [a for a in alerts if a["labels"]["alertname"] == "Watchdog"
                and a["status"]["state"] == "active"]

    assert until(firing, WAIT)
    states = until(lambda: {a["labels"]["alertname"]: a["state"] for a in get_json(
        stack.url("prometheus") + "/api/v1/alerts")["data"]["alerts"]}.get("CacheHitRatioLow"),
        WAIT)
    assert states == "pending"  # it waits 2 h


def test_configs_are_valid_for_their_tools(stack):
    promtool = services.find_binary("promtool")
    checked = subprocess.run([promtool, "check", "config", str(stack.dir / "prometheus" /
                                                               "prometheus.yml")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    amtool = Path(services.find_binary("prometheus-alertmanager")).with_name("amtool")
    checked = subprocess.run([str(amtool), "check-config", str(run.CONFIG_DIR /
                                                               "alertmanager.yml")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_history_is_reused_not_rewritten(stack):
    def no_backfill(*args, **kwargs):
        raise AssertionError("the history must not be written twice")

    again = run.ensure_history(stack.dir / "prometheus" / "data", history.Targets("a", "b"),
                               lambda: "", backfill=no_backfill)
    assert (again.start, again.end, again.generated) == (stack.history.start,
                                                         stack.history.end, False)


def test_dashboard_config_points_at_the_stack(stack, tmp_path):
    path = tmp_path / "stackscope.toml"
    path.write_text(run.dashboard_toml(stack, 8123))
    config = load_config(str(path), env={})
    assert config.prometheus.url == stack.url("prometheus")
    assert config.alertmanager.url == stack.url("alertmanager")
    assert config.server.port == 8123
    ports = {s.name: s.port for s in config.services}
    assert ports["Redis"] == stack.ports["redis"] and ports["Backend API"] == stack.ports["api"]
    assert "Frontend" in ports  # shown Offline: the demo has none
    # No loki binary here: the demo log store answers on Loki's port, and no Promtail runs.
    assert ports["Loki API (demo log store)"] == stack.ports["loki"]
    assert config.loki.url == stack.url("loki")
    assert "Promtail" not in ports and "Loki" not in ports


def loki_get(stack, path, **params):
    return get_json(stack.url("loki") + "/loki/api/v1" + path, **params)


def test_the_log_store_serves_the_demo_logs_live_and_a_week_back(stack):
    assert stack.log_store and stack.procs["loki"].name == "log_store"
    assert "loki" not in run.prometheus_yaml(stack, "15s", None)  # it has no /metrics
    now = time.time()
    streams = loki_get(stack, "/series", **{"match[]": '{job=~".+"}'},
                       start=str(int((now - 8 * 86_400) * 1e9)), end=str(int(now * 1e9)))
    assert {(s["job"], s["service"]) for s in streams["data"]} == {("api", "demo-api"),
                                                                   ("nginx", "nginx")}

    def live(job):
        body = loki_get(stack, "/query_range", query=f'{{job="{job}"}} | json',
                        start=str(int((time.time() - 60) * 1e9)), limit="5")
        return [v for s in body["data"]["result"] for v in s["values"]]

    assert until(lambda: live("api"), WAIT) and until(lambda: live("nginx"), WAIT)
    end = history.story(stack.history.end).incident[1]
    errors = loki_get(stack, "/query", time=str(end),
                      query='sum(count_over_time({job="api", level="error"} [90m]))')
    day_before = loki_get(stack, "/query", time=str(end - 86_400),
                          query='sum(count_over_time({job="api", level="error"} [90m]))')
    assert float(errors["data"]["result"][0]["value"][1]) > 5 * float(
        day_before["data"]["result"][0]["value"][1])


def test_loki_and_promtail_configs_point_at_this_stack(stack):
    # No registry here ships loki/promtail, so only their configs can be checked.
    loki = run.loki_yaml(stack, 4321)
    promtail = run.promtail_yaml(stack)
    assert "$" not in loki + promtail
    assert f"http_listen_port: {stack.ports['loki']}" in loki and "grpc_listen_port: 4321" in loki
    assert f"path_prefix: {stack.dir / 'loki'}" in loki
    assert f"url: {stack.url('loki')}/loki/api/v1/push" in promtail
    assert f"__path__: {stack.dir / 'logs'}/*.log" in promtail


def test_ports_come_from_flags_then_environment_then_defaults():
    env = {"STACKSCOPE_STACK_REDIS_PORT": "7001", "STACKSCOPE_STACK_API_PORT": "7002"}
    ports = run.resolve_ports({"redis": 7000, "api": None}, env)
    assert (ports["redis"], ports["api"], ports["prometheus"]) == (7000, 7002, 9090)
    picked = iter(range(20_000, 20_100))
    free = run.resolve_ports({}, env, free=True, pick=lambda: next(picked))
    assert free["api"] == 7002 and free["dashboard"] == 20_000
    with pytest.raises(run.StackError, match="STACKSCOPE_STACK_REDIS_PORT 'abc': must be a port"):
        run.resolve_ports({}, {"STACKSCOPE_STACK_REDIS_PORT": "abc"})
    with pytest.raises(run.StackError, match="--redis-port '70000'"):
        run.resolve_ports({"redis": 70000}, {})


def test_a_taken_port_is_named_with_how_to_change_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        problems = run.port_problems({"prometheus": port}, ["prometheus"])
    assert len(problems) == 1
    assert f"port {port} for Prometheus is taken by pid {os.getpid()}" in problems[0]
    assert "STACKSCOPE_STACK_PROMETHEUS_PORT=<port>" in problems[0]
    assert "--prometheus-port <port>" in problems[0]


def test_missing_packages_name_the_apt_get_command():
    def nowhere(command):
        return services.find_binary(command, path="", fallback="/nonexistent")

    missing = run.missing_packages(find=nowhere)
    assert missing == ["nginx", "prometheus", "prometheus-alertmanager",
                       "prometheus-node-exporter", "redis-server"]
    with pytest.raises(run.StackError) as err:
        run.install_packages(missing, is_root=False, script=REPO / "scripts" / "none.sh")
    assert str(err.value).endswith(
        "run: sudo apt-get install -y --no-install-recommends nginx prometheus "
        "prometheus-alertmanager prometheus-node-exporter redis-server")


def test_stopping_leaves_no_processes(tmp_path):
    # Its own stack (with an hour of history): stopping the module's would fail the tests after.
    stack = start_stack(tmp_path / "stack", history_days=1 / 24)
    pids = [p.popen.pid for p in stack.procs.values()]
    assert all(psutil.pid_exists(pid) for pid in pids)
    stack.stop()
    assert processes_under(stack.dir) == []
    assert not (stack.dir / "nginx" / "nginx.pid").exists()


# ---------------------------------------------------------------- python -m stack.run


def start_run(directory: Path, name: str, *extra: str) -> services.Proc:
    """`python -m stack.run` on free ports, once it says the stack is up; output in its log."""
    args = [sys.executable, "-m", "stack.run", "--dir", str(directory), "--free-ports", *extra]
    return services.start_server(name, args, directory, cwd=REPO, timeout=90,
                                 ready=services.log_ready("Ctrl-C stops everything."))


def test_run_serves_the_dashboard_and_leaves_nothing_even_when_killed(tmp_path):
    with start_run(tmp_path, "first-run", "--history-days", "0.05") as proc:
        out = proc.log_path.read_text().splitlines()
        dashboard = next(x.split()[1] for x in out if x.strip().startswith("Dashboard"))
        with urllib.request.urlopen(dashboard + "/health", timeout=10) as resp:
            assert resp.status == 200
        assert len(processes_under(tmp_path)) >= 7  # six servers and the dashboard
        proc.popen.send_signal(signal.SIGKILL)  # only stack.run: its watchdog ends the rest
        proc.popen.wait(timeout=10)
        assert until(lambda: processes_under(tmp_path) == [], 15)

    with start_run(tmp_path, "second-run", "--history-days", "0.05", "--no-dashboard") as proc:
        out = proc.log_path.read_text().splitlines()
        assert any("(reused)" in x for x in out if "Prometheus" in x)
        proc.popen.send_signal(signal.SIGINT)
        assert proc.popen.wait(timeout=30) == 0
        assert processes_under(tmp_path) == []
        assert "stopping the demo stack" in proc.log_path.read_text()


def test_the_demo_prometheus_scrapes_the_dashboard_when_it_runs(tmp_path):
    with_dashboard = run.Stack(tmp_path, "127.0.0.1", {"dashboard": 8123, "alertmanager": 9093})
    jobs = json.loads(run.prometheus_yaml(with_dashboard, "15s", None))["scrape_configs"]
    assert {"job_name": "stackscope",
            "static_configs": [{"targets": ["127.0.0.1:8123"]}]} in jobs
    without = run.Stack(tmp_path, "127.0.0.1", {"alertmanager": 9093})  # --no-dashboard
    assert "stackscope" not in run.prometheus_yaml(without, "15s", None)

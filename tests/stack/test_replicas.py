"""`python -m stack.run --replicas 2`: two dashboards on one Redis, a Celery worker, NGINX in front.

One demo start (free ports, a short history) shared by the module's tests; real processes
throughout. Upstream calls are counted by Prometheus itself (its own /metrics).
"""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench import replicas as bench
from bench.dash_page import ENDPOINT, Page
from callbacks.chart_extras import DEFAULT_SOURCES
from layouts import ids
from stack import replicas, run
from stack.poll import until
from tests.stack.test_run import processes_under, start_run

#: a week at 590 px: a step of many minutes, so a burst of viewers stays inside one TTL
WEEK = {"from": "now-7d", "to": "now", "preset": "now-7d", "back": []}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``stack.run --replicas 2`` and where its parts are: {"run", "dir", name: url}."""
    directory = tmp_path_factory.mktemp("replicas")
    with start_run(directory, "run", "--history-days", "0.05", "--replicas", "2") as run:
        out = run.log_path.read_text()
        yield {"run": run, "dir": directory,
               **{name: bench.url_of(out, name)
                  for name in ("Dashboard", "Replica 1", "Replica 2", "Prometheus")}}
        run.popen.send_signal(signal.SIGINT)
        run.popen.wait(60)


def test_the_summary_lists_the_replicas_the_worker_and_the_front(demo):
    out = demo["run"].log_path.read_text()
    assert "NGINX in front of 2 replicas" in out
    assert re.search(r"Celery worker\s+redis://127\.0\.0\.1:\d+/2", out)
    configs = [(demo["dir"] / f"stackscope-dashboard-{i}.toml").read_text() for i in (1, 2)]
    assert all('url = "redis://' in c and f'dir = "{demo["dir"] / "exports"}"' in c
               for c in configs)
    assert configs[0] != configs[1]  # own port, own cache.dir
    conf = (demo["dir"] / "front" / "nginx.conf").read_text()
    assert "proxy_next_upstream error timeout http_502 http_503;" in conf


def settled(demo) -> int:
    """How many panels a viewer gets once the demo's metric names have settled: its native
    histogram is only named after the first live scrape, and each replica lists the panels
    from names it cached, so both must have seen it before a crowd compares them."""
    def names() -> set[str]:
        return set(requests.get(demo["Prometheus"] + "/api/v1/label/__name__/values",
                                timeout=10).json()["data"])

    until(lambda: "http_request_duration_seconds" in names(), timeout=60,
          message="the demo's native histogram was never scraped")

    def same() -> int | None:
        counts = set()
        for name in ("Replica 1", "Replica 2"):
            viewer = bench.Viewer(demo[name])
            viewer.open()  # the last hour: the crowd's week is not asked for before it
            counts.add(len(viewer.panels()))
        return counts.pop() if len(counts) == 1 else None

    panels = until(same, timeout=60, message="the replicas build different panels")
    # A build's first charts slower than its wait go on in the background: let them end.
    calls = [-1]

    def quiet() -> bool:
        now = bench.query_range_calls(demo["Prometheus"])
        still, calls[0] = now == calls[0], now
        return still

    until(quiet, timeout=60, every=2, message="the warm-up's queries did not end")
    return panels


def answer_codes(demo) -> list[tuple[str, str]]:
    """Prometheus' count of its query_range answers by HTTP status (for a failure's note)."""
    text = requests.get(demo["Prometheus"] + "/metrics", timeout=10).text
    return re.findall(r'^prometheus_http_requests_total\{code="(\d+)",'
                      r'handler="/api/v1/query_range"\} (\S+)', text, flags=re.M)


def test_fifty_viewers_through_nginx_make_one_upstream_call_per_panel(demo):
    panels = settled(demo)
    before = bench.query_range_calls(demo["Prometheus"])
    crowd = bench.viewers(demo["Dashboard"], 50, ticks=2, state=WEEK)
    upstream = bench.query_range_calls(demo["Prometheus"]) - before
    seen = [{p["panel"] for p in v.panels()} for v in crowd]
    odd = set.union(*seen) - set.intersection(*seen)
    assert panels >= 5 and all(len(v) == panels for v in seen), odd
    assert [e for v in crowd for e in v.errors] == []
    assert sum(v.calls for v in crowd) == 50 * 2 * panels
    # Each panel asked once across both replicas (a panel without data may ask none), and
    # each annotation source once for all of them.
    assert 1 <= upstream <= panels + len(DEFAULT_SOURCES), (upstream, answer_codes(demo))
    served = set(re.findall(r"upstream=(\S+)", (demo["dir"] / "front" / "access.log").read_text()))
    assert {demo["Replica 1"].removeprefix("http://"),
            demo["Replica 2"].removeprefix("http://")} <= served


def page_of(http: requests.Session, base: str) -> tuple[Page, str]:
    """The page as a browser loads it from ``base``: its callbacks, and its signed end_id."""
    html = http.get(base + "/?tab=logs", timeout=30).text
    config = json.loads(re.search(r'id="_dash-config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    page = Page(http.get(base + "/_dash-layout", timeout=30).json(),
                http.get(base + "/_dash-dependencies", timeout=30).json())
    return page, config["end_id"]


def test_an_export_started_on_one_replica_downloads_through_the_other(demo):
    http = requests.Session()
    page, end_id = page_of(http, demo["Replica 1"])
    now = time.time_ns()
    page.props[(ids.LOGS_EXPORT, "n_clicks")] = 1
    page.props[(ids.LOGS_REQUEST, "data")] = {
        "query": '{job=~".+"}', "start_ns": now - 3600 * 10**9, "end_ns": now,
        "direction": "backward", "limit": 100, "at": time.time()}
    export = page.callback(lambda out: f"{ids.LOGS_DOWNLOAD}.data" in out)
    body = page.body(export, [(ids.LOGS_EXPORT, "n_clicks")])
    handles = http.post(demo["Replica 1"] + ENDPOINT, params={"endId": end_id},
                        json=body, timeout=30).json()
    assert set(handles) >= {"cacheKey", "job"}

    # The renderer's polls, sent to the other replica: values nulled, the handles in the URL.
    for dep in body["inputs"] + body.get("state", []):
        dep["value"] = None

    def done():
        resp = http.post(demo["Replica 2"] + ENDPOINT, json=body, timeout=30,
                         params={"endId": end_id, **handles})
        assert resp.status_code in (200, 204), resp.text[:500]
        answer = resp.json().get("response", {}) if resp.status_code == 200 else {}
        return answer.get(ids.LOGS_DOWNLOAD)

    # The worker runs the export beside the whole demo: on a busy 2-core machine, minutes.
    download = until(done, timeout=180, message="the export's result through replica 2")["data"]
    text = base64.b64decode(download["content"]).decode() if download["base64"] else download[
        "content"]
    assert download["filename"].startswith("logs-") and text.count("\n") > 1
    celery_log = (demo["dir"] / "celery" / "celery.log").read_text()
    assert "background_callback_" in celery_log and "succeeded" in celery_log


def replica_process(directory, i: int):
    found = [p for p in processes_under(directory)
             if f"stackscope-dashboard-{i}.toml" in " ".join(p.cmdline())
             and "app.py" in " ".join(p.cmdline())]
    return found[0] if len(found) == 1 else None


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def test_killing_a_replica_loses_no_page_and_it_is_restarted(demo):
    viewer = bench.Viewer(demo["Dashboard"])
    viewer.open()
    killed = replica_process(demo["dir"], 1)
    assert killed is not None
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    assert refused(demo["Replica 1"])
    statuses, ticks = [], 0

    def one_round():
        nonlocal ticks
        with ThreadPoolExecutor(4) as pool:  # page loads and panel calls, several at once
            statuses.extend(pool.map(lambda path: requests.get(
                demo["Dashboard"] + path, timeout=30).status_code,
                ["/", "/_dash-layout", "/_dash-dependencies", "/health"]))
        ticks += 1
        viewer.tick(ticks)
        back = replica_process(demo["dir"], 1)
        return back is not None and back.pid != killed.pid and not refused(demo["Replica 1"])

    until(one_round, timeout=90, message="replica 1 restarted by the supervisor")
    assert statuses and set(statuses) == {200}
    assert viewer.errors == []
    # NGINX did meet the dead replica, and passed those requests on to the live one.
    access = (demo["dir"] / "front" / "access.log").read_text()
    assert re.search(r"upstream=\S+, \S+ upstream_status=\d+, 20\d", access)
    until(lambda: "dashboard-1 restarted on port" in demo["run"].log_path.read_text(),
          timeout=60)
    assert requests.get(demo["Replica 1"] + "/health", timeout=10).status_code == 200


# ---------------------------------------------------------------- without starting anything


def test_replicas_take_the_ports_after_the_dashboards_or_free_ones():
    assert replicas.replica_ports(8050, 2, free=False) == {"dashboard-1": 8051,
                                                           "dashboard-2": 8052}
    picked = iter([41000, 41001, 41002])
    assert replicas.replica_ports(8050, 3, free=True, pick=lambda: next(picked)) == {
        "dashboard-1": 41000, "dashboard-2": 41001, "dashboard-3": 41002}
    problems = replicas.port_problems({"dashboard": 8050, "prometheus": 8051,
                                       "dashboard-1": 8051}, lambda host, port: True, "h")
    assert problems == ["replica dashboard-1 and prometheus both have port 8051; pass "
                        "--free-ports or --dashboard-port <port>"]


def test_the_demo_prometheus_scrapes_each_replica(tmp_path):
    ports = {"dashboard": 8050, "alertmanager": 9093, "dashboard-1": 8051, "dashboard-2": 8052}
    jobs = json.loads(run.prometheus_yaml(run.Stack(tmp_path, "127.0.0.1", ports), "15s",
                                          None))["scrape_configs"]
    assert {"job_name": "stackscope", "static_configs": [
        {"targets": ["127.0.0.1:8051", "127.0.0.1:8052"]}]} in jobs


def test_a_replica_count_below_one_is_refused(tmp_path, capsys):
    assert run.main(["--dir", str(tmp_path), "--free-ports", "--replicas", "0"]) == 1
    assert "--replicas 0: must be 1 or more" in capsys.readouterr().err

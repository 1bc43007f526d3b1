"""Record real Prometheus, VictoriaMetrics and Alertmanager bodies for the golden tests.

    python tests/record_prometheus_bodies.py
    python tests/record_prometheus_bodies.py histograms   # only the histogram/exemplar bodies

Starts the servers from ``stack.services`` on free loopback ports in a temp dir, backfills the
known history of ``tests/prom_history.py``, sends each request below and writes the body as
returned to ``tests/fixtures/prometheus/<name>.json|.txt`` (Alertmanager's under
``tests/fixtures/alertmanager/``). ``INDEX.json`` next to them keeps, per body, the server and
version, the request (so tests can derive expected values from the history) and the HTTP status.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stack import openmetrics as om  # noqa: E402
from stack import services  # noqa: E402
from stack.poll import until  # noqa: E402
from tests import prom_history as history  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "prometheus"
AM_OUT = REPO / "tests" / "fixtures" / "alertmanager"

RULES = """\
groups:
  - name: demo
    interval: 1s
    rules:
      - alert: DemoAlwaysFiring
        expr: vector(1)
        labels: {severity: critical, team: "ops \\"core\\""}
        annotations: {summary: "Always firing: proves the alert path end to end"}
      - alert: DemoSlowBurn
        expr: vector(2)
        for: 1h
        labels: {severity: warning}
        annotations: {summary: "Pending for an hour before it fires"}
"""


def requests_for(end: int) -> dict[str, tuple[str, str, dict]]:
    """name → (method, path, params) sent to Prometheus; VictoriaMetrics gets the vm_* ones."""
    gap_lo, gap_hi = history.gap(end)
    specials = ('vector(1/0) or label_replace(vector(-1/0), "k", "minus_inf", "", "") '
                'or label_replace(vector(0/0), "k", "nan", "", "")')
    q, qr = "/api/v1/query", "/api/v1/query_range"
    return {
        "vector": ("POST", q, {"query": "demo_value", "time": end}),
        "matrix": ("POST", qr, {"query": "demo_value", "start": end - 3600, "end": end,
                                "step": 900}),
        "matrix_gap": ("POST", qr, {"query": 'demo_value{instance="c"}',
                                    "start": gap_lo - 7200, "end": gap_hi + 7200,
                                    "step": 3600}),
        "scalar": ("POST", q, {"query": "2 * 0.75", "time": end}),
        "string": ("POST", q, {"query": '"hello"', "time": end}),
        "empty_vector": ("POST", q, {"query": "demo_nothing", "time": end}),
        "empty_matrix": ("POST", qr, {"query": "demo_nothing", "start": end - 600,
                                      "end": end, "step": 60}),
        "special_matrix": ("POST", qr, {"query": "demo_special", "start": end - 120,
                                        "end": end, "step": 60}),
        "special_vector": ("POST", q, {"query": specials, "time": end}),
        "labels_quotes": ("POST", q, {"query": "demo_labels", "time": end}),
        "label_values_path": ("GET", "/api/v1/label/path/values", {}),
        "label_names": ("GET", "/api/v1/labels", {"match[]": '{job="demo"}'}),
        "metric_names": ("GET", "/api/v1/label/__name__/values", {"match[]": '{job="demo"}'}),
        "health": ("POST", q, {"query": "vector(1)+vector(1)"}),
        "error_parse": ("POST", q, {"query": "sum(rate(demo_value[5m])", "time": end}),
        "error_422": ("POST", q, {"query": 'label_replace(demo_value, "instance", "same", "", "")',
                                  "time": end}),
        "error_points": ("POST", qr, {"query": "demo_value", "start": end - 11001, "end": end,
                                      "step": 1}),
        "buildinfo": ("GET", "/api/v1/status/buildinfo", {}),
    }


PROMETHEUS_ONLY = {
    "error_timeout": ("POST", "/api/v1/query_range", {
        "query": "sum(demo_value) * on() group_left() sum(demo_value)", "step": 300,
        "timeout": "1ms"}),
    "not_found": ("GET", "/api/v1/nothing", {}),
    "targets": ("GET", "/api/v1/targets", {"state": "active"}),
    "alerts": ("GET", "/api/v1/alerts", {}),
}

#: VictoriaMetrics allows 30 000 points per series, not 11 000; it only holds the last day.
VM_ONLY = {"error_points": ("POST", "/api/v1/query_range", {"query": "demo_value", "step": 1})}
VM_SKIP = {"matrix_gap"}


def main(argv: list[str] | None = None) -> None:
    if (argv if argv is not None else sys.argv[1:]) == ["histograms"]:
        index = json.loads((OUT / "INDEX.json").read_text())
        record_histograms(index)
        (OUT / "INDEX.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    AM_OUT.mkdir(parents=True, exist_ok=True)
    end = history.history_end(time.time())
    index: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="record-prom-") as tmp:
        tmp = Path(tmp)
        with services.start_alertmanager(tmp / "am") as am, \
                services.start_node_exporter(tmp / "node") as node, \
                start_prometheus(tmp, end, am, node) as prom:
            record_prometheus(prom, end, index)
            record_alertmanager(am, prom, index)
        with services.start_victoria_metrics(
                tmp / "vm", extra_args=["-search.latencyOffset=0s", "-search.disableCache"]) as vm:
            record_vm(vm, end, index)
        with services.start_nginx(tmp / "nginx",
                                  upstream_url=f"http://127.0.0.1:{services.free_port()}") as px:
            # What a reverse proxy answers when Prometheus behind it is down: an HTML page.
            resp = send(px.url, "GET", "/api/v1/query", {"query": "up"})
            save(index, "proxy_502", resp, "nginx", "", "GET", "/api/v1/query", {"query": "up"})
    (OUT / "INDEX.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(index)} bodies into {OUT} and {AM_OUT}")


def start_prometheus(tmp: Path, end: int, am, node):
    """Prometheus on the backfilled history, scraping itself, node and a closed port."""
    broken = services.free_port()
    config = services.scrape_config(
        {"prometheus": [services.SELF_ADDRESS], "node": [f"127.0.0.1:{node.port}"],
         "broken": [f"127.0.0.1:{broken}"]},
        interval="1s", rule_files=["rules.yml"], alertmanagers=[f"127.0.0.1:{am.port}"])
    return services.start_prometheus(tmp / "prom", config_yaml=config,
                                     history=[history.openmetrics(end)],
                                     max_block_duration="744h",
                                     rule_files={"rules.yml": RULES}, retention="60d",
                                     # Alertmanager is discovered ~5 s after start; resend soon.
                                     extra_args=["--rules.alert.resend-delay=1s"])


def record_prometheus(prom, end: int, index: dict) -> None:
    until(answered(lambda: _scraped(prom.url)
                   and _alert_states(prom.url) == {"firing", "pending"}),
          30, every=0.2, message="targets scraped and alerts firing/pending")
    version = get_json(prom.url + "/api/v1/status/buildinfo")["data"]["version"]
    reqs = {**requests_for(end), **PROMETHEUS_ONLY}
    reqs["error_timeout"][2].update(start=end - 30 * history.DAY, end=end)
    for name, (method, path, params) in reqs.items():
        for _ in range(20):
            resp = send(prom.url, method, path, params)
            # A 1 ms budget sometimes runs out before evaluation starts (a 422): try again.
            if name != "error_timeout" or resp.status_code == 503:
                break
        save(index, f"prom_{name}", resp, "prometheus", version, method, path, params)


def record_alertmanager(am, prom, index: dict) -> None:
    """Prometheus' firing alert, plus one posted by hand and silenced (suppressed)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manual = {"labels": {"alertname": "DemoManual", "severity": "info", "instance": "x"},
              "annotations": {"summary": "Posted through the API"}, "startsAt": now,
              "generatorURL": "http://127.0.0.1/manual"}
    requests.post(am.url + "/api/v2/alerts", json=[manual], timeout=5).raise_for_status()
    silence = {"matchers": [{"name": "alertname", "value": "DemoManual", "isRegex": False}],
               "startsAt": now, "endsAt": "2099-01-01T00:00:00Z", "createdBy": "recorder",
               "comment": "recorded suppressed state"}
    requests.post(am.url + "/api/v2/silences", json=silence, timeout=5).raise_for_status()
    until(answered(lambda: {a["labels"]["alertname"]: a["status"]["state"]
                            for a in get_json(am.url + "/api/v2/alerts")}
                   == {"DemoAlwaysFiring": "active", "DemoManual": "suppressed"}),
          30, every=0.2, message="Alertmanager holding the firing and the silenced alert")
    version = get_json(am.url + "/api/v2/status")["versionInfo"]["version"]
    resp = send(am.url, "GET", "/api/v2/alerts", {})
    save(index, "am_alerts", resp, "alertmanager", version, "GET", "/api/v2/alerts", {},
         out=AM_OUT)


def record_vm(vm, end: int, index: dict) -> None:
    """VictoriaMetrics with the last day of the history imported."""
    last_day = (end - 86400 + 1, end + 1)
    body = om.prometheus_text(history.families(end), window=last_day).encode()
    requests.post(vm.url + "/api/v1/import/prometheus", data=body, timeout=30).raise_for_status()
    requests.get(vm.url + "/internal/force_flush", timeout=30).raise_for_status()
    until(answered(lambda: len(get_json(vm.url + "/api/v1/query", query="demo_value",
                                        time=end)["data"]["result"]) == 3),
          30, every=0.2, message="VictoriaMetrics serving the three series")
    version = requests.get(vm.url + "/metrics", timeout=5).text
    version = next((x.split('short_version="')[1].split('"')[0] for x in version.splitlines()
                    if x.startswith("vm_app_version")), "unknown")
    reqs = {k: v for k, v in {**requests_for(end), **VM_ONLY}.items() if k not in VM_SKIP}
    reqs["error_points"][2].update(start=end - 40001, end=end)
    for name, (method, path, params) in reqs.items():
        resp = send(vm.url, method, path, params)
        save(index, f"vm_{name}", resp, "victoria-metrics", version, method, path, params)


HISTOGRAM_REQUESTS = {
    "native_vector": ("POST", "/api/v1/query", {"query": "http_request_duration_seconds"}),
    "native_matrix": ("POST", "/api/v1/query_range", {
        "query": "sum by (route) (increase(http_request_duration_seconds[10s]))", "step": 2}),
    "classic_vector": ("POST", "/api/v1/query", {"query": "http_request_duration_seconds_bucket"}),
    "classic_matrix": ("POST", "/api/v1/query_range", {
        "query": "sum by (le, route) (increase(http_request_duration_seconds_bucket[10s]))",
        "step": 2}),
    "exemplars": ("POST", "/api/v1/query_exemplars", {
        "query": 'http_request_duration_seconds_bucket{job="api"}'}),
    "string_quotes": ("POST", "/api/v1/query", {"query": '"say \\"hi\\""'}),
    # Prometheus' own quantiles of the same buckets, to check ours against
    "classic_quantile": ("POST", "/api/v1/query", {"query": (
        "histogram_quantile(0.95, sum by (le) (http_request_duration_seconds_bucket))")}),
    "native_quantile": ("POST", "/api/v1/query", {"query": (
        "histogram_quantile(0.95, sum(http_request_duration_seconds))")}),
}


def record_histograms(index: dict, requests_made: int = 60) -> None:
    """The demo API (``stack.demo_api``: classic buckets with exemplars on /metrics, a native
    histogram as protobuf on /metrics/native) scraped by Prometheus with both feature flags.

    Traffic stops before the bodies are taken, so both histograms hold the same requests;
    the request ids the API logged go into INDEX.json for the tests.
    """
    import random
    import threading

    from stack import demo_api

    with tempfile.TemporaryDirectory(prefix="record-hist-") as tmp:
        tmp = Path(tmp)
        with services.start_redis(tmp / "redis") as red:
            api = demo_api.DemoAPI(demo_api.Redis(red.host, red.port),
                                   demo_api.JsonLog(tmp / "api.log"), demo_api.Metrics(),
                                   rng=random.Random(5), sleep=lambda s: time.sleep(s / 20))
            server = demo_api.serve(api, services.LOCALHOST, 0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            target = f"{services.LOCALHOST}:{server.server_address[1]}"
            config = services.scrape_config({"api": [target], "api-native": [target]},
                                            paths={"api-native": demo_api.NATIVE_PATH})
            try:
                with services.start_prometheus(tmp / "prom", config_yaml=config,
                                               extra_args=[services.HISTOGRAM_FEATURES]) as prom:
                    # Targets are discovered ~5 s after start: traffic begins once both are up.
                    until(answered(lambda: len(get_json(prom.url + "/api/v1/query",
                                                        query="up == 1")["data"]["result"]) == 2),
                          30, every=0.2, message="both API jobs scraped")
                    start = time.time()
                    traffic = demo_api.Traffic(f"http://{target}", rng=random.Random(3))
                    for _ in range(requests_made):
                        traffic.call(*traffic.pick())
                        time.sleep(0.05)
                    time.sleep(2.5)  # both jobs scrape the final counts (1 s interval)
                    end = time.time()
                    _record_histogram_bodies(prom, start, end, index)
            finally:
                server.shutdown()
                server.server_close()
            lines = [json.loads(x) for x in (tmp / "api.log").read_text().splitlines()]
            index["prom_exemplars"]["logged_request_ids"] = sorted(
                {x["request_id"] for x in lines if x.get("logger") == "api.http"})


def _record_histogram_bodies(prom, start: float, end: float, index: dict) -> None:
    version = get_json(prom.url + "/api/v1/status/buildinfo")["data"]["version"]
    for name, (method, path, params) in HISTOGRAM_REQUESTS.items():
        params = dict(params)
        if path.endswith("query"):
            params["time"] = round(end, 3)
        else:
            params.update(start=round(start, 3), end=round(end, 3))
        resp = send(prom.url, method, path, params)
        save(index, f"prom_{name}", resp, "prometheus", version, method, path, params)


def send(url: str, method: str, path: str, params: dict) -> requests.Response:
    form = {"data": params} if method == "POST" else {"params": params}
    return requests.request(method, url + path, timeout=30, **form)


def save(index: dict, name: str, resp: requests.Response, server: str, version: str,
         method: str, path: str, params: dict, out: Path = OUT) -> None:
    is_json = resp.headers.get("Content-Type", "").startswith("application/json")
    file = f"{name}.json" if is_json else f"{name}.txt"
    (out / file).write_bytes(resp.content)
    index[name] = {"file": str((out / file).relative_to(REPO / "tests" / "fixtures")),
                   "server": server, "version": version, "method": method, "path": path,
                   "params": params, "status": resp.status_code,
                   "content_type": resp.headers.get("Content-Type", "")}
    print(f"{name:32} {resp.status_code} {len(resp.content):7} bytes")


def get_json(url: str, **params) -> dict:
    resp = requests.get(url, params=params, timeout=10)
    resp.raise_for_status()
    return resp.json()


def answered(check):
    """``check`` for ``until``: a server still warming up (an error, a partial body) says no."""
    def predicate() -> bool:
        try:
            return check()
        except (requests.RequestException, KeyError, ValueError):
            return False

    return predicate


def _scraped(url: str) -> bool:
    targets = get_json(url + "/api/v1/targets")["data"]["activeTargets"]
    return len(targets) == 3 and all(not t["lastScrape"].startswith("0001") for t in targets) \
        and any(t["lastError"] for t in targets)


def _alert_states(url: str) -> set[str]:
    return {a["state"] for a in get_json(url + "/api/v1/alerts")["data"]["alerts"]}


if __name__ == "__main__":
    main()

"""Upstream calls stay bounded against a server that misbehaves on purpose (fault_server.py).

Through the real Prometheus, Loki and Alertmanager datasources, the probes, ``app.py check``
and a served app: every call ends within its timeout whatever the server does, a huge answer is
refused while it is read, no redirect leaves the configured origin, ``Retry-After`` backs the
upstream off, and no configured secret reaches what the UI shows or the log.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import plotly.utils
import pytest
import requests

from config import Service, Upstream
from datasources.alertmanager import Alertmanager
from datasources.cache import Cache, Result
from datasources.errors import BadResponse, QueryError, Unreachable
from datasources.loki import Loki
from datasources.probes import probe_all, probe_http
from datasources.prometheus import Prometheus
from layouts.common import error_alert, result_notice
from stack.services import free_port
from tests.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0
#: what a bounded call may take beyond its timeout: the watchdog's 50 ms and thread wake-ups
SLACK = 0.5
TOKEN, PASSWORD, HEADER, TENANT = "tok-3f9a1c", "pw-77d2e0", "hdr-5be41f", "tenant-c81d"
SECRETS = (TOKEN, PASSWORD, HEADER, TENANT, base64.b64encode(b"ops:" + PASSWORD.encode()).decode())
START_NS, END_NS = 1_700_000_000 * 10**9, 1_700_000_300 * 10**9


@pytest.fixture
def foreign():
    """A server on another host (127.0.0.2) that a redirect may point to."""
    server = FaultServer("127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def faults(foreign):
    server = FaultServer(other=foreign.url)
    yield server
    server.stop()


@dataclass(frozen=True)
class Source:
    """One datasource as a panel uses it: ``call(url, cache)`` gives its ``Result``."""

    name: str
    call: Callable[..., Callable[[], Result]]
    ok_body: bytes
    #: the secrets its upstream is configured with
    secrets: tuple[str, ...]


def _prometheus(url, cache, **kw):
    up = Upstream("Prometheus", url, timeout=TIMEOUT, cache_ttl=30, bearer_token=TOKEN,
                  headers={"X-Api-Key": HEADER}, **kw)
    return lambda: Prometheus(up, cache).query("up")


def _loki(url, cache, **kw):
    kw = {"username": "ops", "password": PASSWORD} | kw
    up = Upstream("Loki", url, timeout=TIMEOUT, cache_ttl=30, headers={"X-Api-Key": HEADER},
                  tenant=TENANT, **kw)
    return lambda: Loki(up, cache).query_range('{job="app"}', START_NS, END_NS)


def _alertmanager(url, cache, **kw):
    up = Upstream("Alertmanager", url, timeout=TIMEOUT, cache_ttl=30, bearer_token=TOKEN,
                  headers={"X-Api-Key": HEADER}, **kw)
    return lambda: Alertmanager(up, cache).alerts()


SOURCES = [
    Source("Prometheus", _prometheus,
           b'{"status":"success","data":{"resultType":"vector","result":[]}}', (TOKEN, HEADER)),
    Source("Loki", _loki, b'{"status":"success","data":{"resultType":"streams","result":[]}}',
           (SECRETS[-1], HEADER, TENANT, PASSWORD)),
    Source("Alertmanager", _alertmanager, b"[]", (TOKEN, HEADER)),
]


@pytest.fixture(params=SOURCES, ids=[s.name for s in SOURCES])
def source(request):
    return request.param


@pytest.fixture
def cache(tmp_path):
    c = Cache(tmp_path / "cache", backoff_max=30)
    yield c
    c.close()


@pytest.fixture
def logged(caplog):
    """Every log record, urllib3's debug lines included."""
    caplog.set_level(logging.DEBUG)
    return caplog


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def shown(result: Result) -> str:
    """What the UI shows for a failed result: the error line and the layouts' panels."""
    panels = [result_notice(result), error_alert(result.error)]
    return result.error.describe() + json.dumps(
        [p.to_plotly_json() for p in panels], cls=plotly.utils.PlotlyJSONEncoder)


def assert_nothing_leaked(*texts: str) -> None:
    leaked = [s for s in SECRETS for t in texts if s in t]
    assert leaked == [], leaked


# --- total deadline --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["drip-body", "drip-headers"])
def test_a_dripping_upstream_costs_its_timeout_and_no_more(faults, source, cache, logged, mode):
    result, elapsed = timed(source.call(f"{faults.url}/{mode}", cache))
    assert elapsed <= TIMEOUT + SLACK, elapsed
    assert isinstance(result.error, Unreachable) and result.value is None
    assert result.error.describe() == f"{source.name} unreachable: timed out after 1 s"
    assert f"{source.name} unreachable: timed out after 1 s (next try in 1 s)" in logged.text
    assert_nothing_leaked(shown(result), logged.text)


def test_many_callers_of_one_dripping_upstream_each_wait_their_deadline_at_most(
        faults, source, cache):
    call = source.call(f"{faults.url}/drip-body", cache)
    times: list[float] = []

    def one():
        times.append(timed(call)[1])

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One call went upstream; the others waited for it, each within its own deadline.
    assert faults.count("drip-body") == 1
    assert max(times) <= TIMEOUT + SLACK, times


# --- size cap ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["huge", "huge-chunked"])
def test_a_huge_answer_is_refused_while_it_is_read(faults, source, cache, mode):
    call = source.call(f"{faults.url}/{mode}", cache, max_response_bytes=1 << 20)
    tracemalloc.start()
    try:
        result, elapsed = timed(call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result.error, BadResponse)
    assert result.error.describe() == (
        f"{source.name} sent a bad response: response larger than 1 MiB, not read further "
        f"(setting {source.name.lower()}.max_response_mb)")
    # The server offers 64 MiB; what was held is about the 1 MiB cap.
    assert peak < 8 << 20, peak
    assert elapsed <= TIMEOUT, elapsed


# --- redirects ---------------------------------------------------------------------------------

def test_a_redirect_to_another_host_is_not_followed(faults, foreign, source, cache, logged):
    foreign.body = source.ok_body
    result = source.call(f"{faults.url}/redirect-away", cache)()
    assert isinstance(result.error, BadResponse) and result.value is None
    assert f"redirect to another host ({foreign.url}/ok/" in result.error.message
    assert result.error.message.endswith(f"not followed: the credentials stay with {faults.url}")
    assert foreign.seen == []  # neither the credentials nor the tenant went there
    assert_nothing_leaked(shown(result), logged.text)


def test_a_redirect_on_the_same_origin_is_followed_with_the_request(faults, source, cache):
    faults.body = source.ok_body
    result = source.call(f"{faults.url}/redirect-home", cache)()
    assert result.ok, result.error
    first, followed = faults.seen
    assert followed.path == "/ok" + first.path[len("/redirect-home"):]
    assert (followed.method, followed.body) == (first.method, first.body)
    assert followed.headers["Authorization"] == first.headers["Authorization"]


def test_a_redirect_loop_stops_after_three_hops(faults, source, cache):
    result, elapsed = timed(source.call(f"{faults.url}/redirect-loop", cache))
    assert isinstance(result.error, BadResponse)
    assert result.error.message.startswith("more than 3 redirects (the last to ")
    assert faults.count("redirect-loop") == 4  # the call and three hops, not 31
    assert elapsed <= TIMEOUT


# --- Retry-After -------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "retry_after", "next_try"), [
    (429, "7", 7), (503, "7", 7),
    (503, formatdate(time.time() + 3600, usegmt=True), 30),  # an HTTP date, capped by backoff_max
])
def test_retry_after_backs_the_upstream_off(faults, source, cache, status, retry_after,
                                            next_try):
    faults.retry_after = retry_after
    call = source.call(f"{faults.url}/retry-after-{status}", cache)
    first = call()
    assert isinstance(first.error, Unreachable) and first.error.retry_after > 6
    assert first.error.message.startswith(f"HTTP {status}: slow down (retry after ")
    again, elapsed = timed(call)
    assert faults.count("retry-after") == 1  # the upstream is left alone meanwhile
    assert again.error.message.endswith(f"(next try in {next_try} s)")
    assert elapsed < 0.5


# --- secrets in error text ---------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kind"), [(500, Unreachable), (400, QueryError),
                                             (401, BadResponse)])
def test_an_error_body_echoing_the_request_leaks_no_secret(faults, source, cache, logged,
                                                           status, kind):
    result = source.call(f"{faults.url}/echo-{status}", cache)()
    assert isinstance(result.error, kind)
    text = shown(result)
    assert re.search(r"Authorization: (Bearer|Basic) \[redacted\]", text)
    assert "X-Api-Key: [redacted]" in text
    assert_nothing_leaked(text, logged.text)


def test_user_info_in_the_url_is_scrubbed_from_an_echo(faults, cache, logged):
    host = faults.url.removeprefix("http://")
    result = _loki(f"http://ops:{PASSWORD}@{host}/echo-502", cache, username="", password="")()
    assert isinstance(result.error, Unreachable)
    assert "Authorization: Basic [redacted]" in result.error.message
    assert_nothing_leaked(shown(result), logged.text)


def test_a_200_page_echoing_the_request_is_a_bad_response_without_secrets(faults, source, cache,
                                                                          logged):
    faults.body = f"<pre>proxy: {' '.join(source.secrets)}</pre>".encode()
    result = source.call(f"{faults.url}/ok", cache)()
    assert isinstance(result.error, BadResponse) and result.value is None
    assert "[redacted]" in result.error.message
    assert_nothing_leaked(shown(result), logged.text)


@pytest.mark.parametrize("body", [b'{"unexpected": true}', b"[1, 2]", b"", b"\xff\xfe"])
def test_a_wrong_shape_answer_is_a_bad_response(faults, source, cache, body):
    faults.body = body
    result = source.call(f"{faults.url}/ok", cache)()
    assert isinstance(result.error, BadResponse) and result.value is None


# --- probes and `app.py check` -----------------------------------------------------------------

def _service(server: FaultServer, path: str, **kw) -> Service:
    port = int(server.url.rsplit(":", 1)[1])
    return Service(kw.pop("name", path), "http", port, path=path, timeout=TIMEOUT, **kw)


def test_a_probe_of_dripped_headers_ends_at_its_timeout(faults):
    r, elapsed = timed(lambda: probe_http(_service(faults, "/drip-headers")))
    assert (r.up, r.detail) == (False, "timed out after 1 s")
    assert elapsed <= TIMEOUT + SLACK, elapsed


def test_a_probe_reading_a_dripped_body_for_its_keyword_ends_at_its_timeout(faults):
    r, elapsed = timed(lambda: probe_http(_service(faults, "/drip-body", keyword="Ready")))
    assert (r.up, r.detail) == (False, "keyword 'Ready' missing")
    assert elapsed <= TIMEOUT + SLACK, elapsed


def test_a_round_of_dripping_services_takes_one_timeout(faults):
    services = [_service(faults, path, name=f"{path}{i}", keyword="x")
                for i in range(5) for path in ("/drip-headers", "/drip-body")]
    results, elapsed = timed(lambda: probe_all(services))
    assert not any(r.up for r in results)
    assert elapsed <= TIMEOUT + SLACK, elapsed


def test_check_against_dripped_headers_ends_at_the_probe_timeout(faults, tmp_path):
    config = tmp_path / "check.toml"
    config.write_text(f'[cache]\ndir = "{tmp_path / "cache"}"\n[[services]]\nname = "web"\n'
                      f'kind = "http"\nport = {faults.url.rsplit(":", 1)[1]}\n'
                      'path = "/drip-headers"\ntimeout = 2\n')
    proc = subprocess.Popen([sys.executable, "app.py", "--config", str(config), "check"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    out = ""
    while "services up" not in out and (line := proc.stdout.readline()):
        out += line
    verdict = time.monotonic()
    assert proc.wait(timeout=30) == 1 and "timed out after 2 s" in out
    # From the probe's arrival to the verdict; the interpreter's exit after it is not counted
    # (1-2 s of tearing down pandas and Dash on a loaded machine).
    assert verdict - faults.seen[0].at <= 2 + SLACK, verdict - faults.seen[0].at


# --- a served app ------------------------------------------------------------------------------

@pytest.fixture
def served(faults, tmp_path):
    """``python app.py`` (waitress, 16 threads) with every upstream and service dripping."""
    port = free_port()
    services = "".join(
        f'[[services]]\nname = "web{i}"\nkind = "http"\nport = {faults.url.rsplit(":", 1)[1]}\n'
        f'path = "/drip-headers"\ntimeout = 2\n' for i in range(3))
    config = tmp_path / "served.toml"
    config.write_text(f"""
[server]
port = {port}
max_request_mb = 1
[cache]
dir = "{tmp_path / 'cache'}"
[prometheus]
url = "{faults.url}/drip-body"
timeout = 2
bearer_token = "{TOKEN}"
[loki]
url = "{faults.url}/drip-headers"
timeout = 2
tenant = "{TENANT}"
[alertmanager]
url = "{faults.url}/drip-body"
timeout = 2
headers = {{ "X-Api-Key" = "{HEADER}" }}
{services}""")
    proc = subprocess.Popen([sys.executable, "app.py", "--config", str(config)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(url + "/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _callback(output: str, inputs: list, state: list = ()) -> dict:
    """A Dash callback request, as the browser posts it (outputs joined by "...")."""
    def prop(triple):
        return {"id": triple[0], "property": triple[1], "value": triple[2]}
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
               for o in output.split("...")]
    many = len(outputs) > 1
    return {"output": f"..{output}.." if many else output,
            "outputs": outputs if many else outputs[0],
            "inputs": [prop(i) for i in inputs], "state": [prop(s) for s in state],
            "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]}


PROM_PARTS = ("status-prom-targets", "status-prom-alert-summary", "status-prom-alert-notices",
              "status-prom-alerts")
CALLBACKS = {
    # Prometheus alerts, Alertmanager alerts, Prometheus targets: three calls in a row (the
    # first backoff, 1 s, ends before the third)
    # (Alertmanager's silences come next, answered at once: it is backing off by then)
    "status-prom-section": (3, _callback(
        "...".join(f"{p}.children" for p in PROM_PARTS) + "...alerts-severity-filter.options",
        [("status-interval", "n_intervals", 1), ("status-refresh", "n_clicks", None),
         ("tabs", "value", "status"), ("alerts-state-filter", "value", []),
         ("alerts-severity-filter", "value", []), ("alerts-label-filter", "value", None),
         ("alerts-changed", "data", 0)], [(p, "children", None) for p in PROM_PARTS])),
    "metrics-job": (1, _callback("metrics-job.options", [("metrics-width", "data", 800)],
                                 [("metrics-job", "value", None)])),
    "logs-label-name": (1, _callback(
        "logs-label-name.options",
        # as callbacks.logs.request writes it (the server refuses an incomplete one)
        [("logs-request", "data", {"query": '{job="api"}', "start_ns": START_NS,
                                   "end_ns": END_NS, "limit": 100, "direction": "backward"})])),
}


def test_health_answers_at_once_while_every_upstream_drips(served):
    url, _ = served
    answers: list[tuple[str, int, float, str]] = []

    def post(name, payload):
        started = time.monotonic()
        resp = requests.post(url + "/_dash-update-component", json=payload, timeout=30)
        answers.append((name, resp.status_code, time.monotonic() - started, resp.text))

    flights = [threading.Thread(target=post, args=(name, payload))
               for name, (_, payload) in CALLBACKS.items() for _ in range(4)]
    for t in flights:
        t.start()
    time.sleep(0.3)  # the callbacks are now waiting on their upstreams
    health = [timed(lambda: requests.get(url + "/health", timeout=5)) for _ in range(5)]
    for t in flights:
        t.join()
    assert [r.status_code for r, _ in health] == [200] * 5
    assert max(t for _, t in health) < 1, health
    for name, status, elapsed, text in answers:
        waits = CALLBACKS[name][0]
        assert status == 200, (name, text[:300])
        assert elapsed <= waits * 2 + SLACK * 2, (name, elapsed)  # timeout = 2 s
        assert_nothing_leaked(text)
    assert "unreachable: timed out after 2 s" in "".join(a[3] for a in answers)


def test_a_request_body_over_the_cap_is_refused_at_the_door(served):
    url, _ = served
    resp = requests.post(url + "/_dash-update-component", data=b"x" * (2 << 20),
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 413

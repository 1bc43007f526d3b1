"""stackscope's own metrics (/metrics) and JSON logs: counted where it happens, scraped for real.

The in-process tests read this process's samples (no multi-process directory in a test run);
the last test serves ``gunicorn app:server`` with two workers (multi-process mode, JSON logs,
a metrics token) and has a real Prometheus scrape it with the token.
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import requests
from prometheus_client import REGISTRY

import logsetup
import telemetry
from app import create_app
from config import Upstream
from datasources import http
from datasources.cache import Cache
from datasources.errors import Unreachable
from layouts import ids
from query.panels import OWN_SEEDS, expand
from stack import services
from tests import dash_calls
from tests.test_app import served

TOKEN = "scrape-7f3a9c"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def quiet_callback(client, app):
    """A real callback that answers 204: the Logs tab's run while Status is shown."""
    tabs = f"{ids.TABS}.value"
    return dash_calls.call(client, app, f"{ids.LOGS_REQUEST}.data", {tabs: "status"},
                           triggered=[tabs])


# --- pure parts -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, name", [
    ({"output": "logs-request.data"}, "logs-request.data"),
    ({"output": "..logs-grid.rowData...logs-shown.data.."}, "logs-grid.rowData +1"),
    ({"output": "made-up.children"}, "other"),  # a browser does not choose label values
    ({"output": ["logs-request.data"]}, "other"),
    ([1, 2], "other"),
    (None, "other"),
])
def test_callback_label_is_a_registered_output_or_other(body, name):
    known = {"logs-request.data", "..logs-grid.rowData...logs-shown.data.."}
    assert telemetry.callback_name(body, known) == name


@pytest.mark.parametrize("header, token, signed_in, allowed", [
    (None, "", False, True),  # no token: whoever may reach the dashboard
    (None, TOKEN, False, False),
    (f"Bearer {TOKEN}", TOKEN, False, True),
    (f"bearer {TOKEN}", TOKEN, False, True),
    (f"Bearer {TOKEN}x", TOKEN, False, False),
    (f"Basic {TOKEN}", TOKEN, False, False),
    ("Bearer ", TOKEN, False, False),
    (None, TOKEN, True, True),  # a signed-in dashboard user (auth.mode basic or proxy)
])
def test_who_may_scrape(header, token, signed_in, allowed):
    assert telemetry.may_scrape(header, token, signed_in) is allowed


def test_active_sessions_counts_distinct_ids_within_the_window(tmp_path):
    clock = [1000.0]
    seen = telemetry.SessionsSeen(tmp_path / "s", window=300, refresh=30, now=lambda: clock[0])
    for sid in ("a", "b", "a", "c"):
        seen.seen(sid)
    assert seen.count() == 3
    # A diskcache entry expires by the wall clock: the window itself is diskcache's.
    seen.store.set("old", 0, expire=-1)
    assert seen.count() == 3


# --- counted where it happens ----------------------------------------------------------------

def test_upstream_requests_by_outcome_and_status_class(prometheus_server, closed_port):
    prom = Upstream("Prometheus", prometheus_server.url, timeout=5, cache_ttl=1)
    session = http.make_session(prom)
    ok = sample("stackscope_upstream_requests_total", upstream="Prometheus", outcome="ok",
                status_class="2xx")
    bad = sample("stackscope_upstream_requests_total", upstream="Prometheus",
                 outcome="query_error", status_class="4xx")
    http.request(session, prom, "GET", "/api/v1/query", params={"query": "1"})
    with pytest.raises(Exception, match="parse error"):
        http.request(session, prom, "GET", "/api/v1/query", params={"query": "1 +"})
    down = Upstream("Down", f"http://127.0.0.1:{closed_port}", timeout=2, cache_ttl=1)
    with pytest.raises(Unreachable):
        http.request(http.make_session(down), down, "GET", "/")
    assert sample("stackscope_upstream_requests_total", upstream="Prometheus", outcome="ok",
                  status_class="2xx") == ok + 1
    assert sample("stackscope_upstream_requests_total", upstream="Prometheus",
                  outcome="query_error", status_class="4xx") == bad + 1
    assert sample("stackscope_upstream_requests_total", upstream="Down", outcome="unreachable",
                  status_class="none") == 1


def test_cache_counts_hits_misses_and_stale_answers(tmp_path):
    clock = [1000.0]
    cache = Cache(tmp_path / "c", now=lambda: clock[0])
    name = "cache-test"
    before = {k: sample(f"stackscope_cache_{k}_total", upstream=name)
              for k in ("hits", "misses", "stale_served")}

    def down():
        raise Unreachable(name, "connection refused")

    cache.get("k", lambda: 1, ttl=10, upstream=name)          # miss
    cache.get("k", lambda: 2, ttl=10, upstream=name)          # hit
    clock[0] += 11
    result = cache.get("k", down, ttl=10, upstream=name)      # miss, stale served
    assert result.stale and result.value == 1
    after = {k: sample(f"stackscope_cache_{k}_total", upstream=name) - before[k]
             for k in before}
    assert after == {"hits": 1, "misses": 2, "stale_served": 1}


# --- the route --------------------------------------------------------------------------------

@pytest.fixture
def served_app(write_config):
    def build(body: str = ""):
        app = create_app(write_config(body))
        return app, app.server.test_client()
    return build


def test_metrics_is_open_without_a_token_and_times_callbacks(served_app):
    app, client = served_app()
    name = dash_calls.find(app, f"{ids.LOGS_REQUEST}.data")
    before = sample("stackscope_callback_duration_seconds_count", callback=name)
    client.get("/")  # gives the session cookie
    assert quiet_callback(client, app).status_code == 204
    page = client.get("/metrics")
    assert page.status_code == 200 and page.content_type.startswith("text/plain")
    text = page.get_data(as_text=True)
    assert "stackscope_active_sessions 1.0" in text
    assert sample("stackscope_callback_duration_seconds_count", callback=name) == before + 1


def test_metrics_token_is_needed_when_set(served_app):
    _, client = served_app(f'[server]\nmetrics_token = "{TOKEN}"\n')
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "server.metrics_token" in refused.get_data(as_text=True)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    good = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200 and b"stackscope_probe_round_duration_seconds" in good.data


# --- JSON logs --------------------------------------------------------------------------------

def test_json_log_line_carries_path_callback_and_session(served_app):
    app, client = served_app()
    client.get("/")
    payload = dash_calls.body(app, dash_calls.find(app, f"{ids.LOGS_REQUEST}.data"))
    sid = client.get_cookie("stackscope_session").value
    formatter = logsetup.JsonFormatter()
    with app.server.test_request_context("/_dash-update-component", method="POST",
                                         json=payload, environ_base={"REMOTE_ADDR": "127.0.0.1"},
                                         headers={"Cookie": f"stackscope_session={sid}"}):
        app.server.preprocess_request()
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            record = logging.getLogger("stackscope.x").makeRecord(
                "stackscope.x", logging.ERROR, __file__, 1, "failed: %s", ("it",),
                sys.exc_info())
        line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "stackscope.x"
    assert entry["message"] == "failed: it" and entry["time"].endswith("Z")
    assert entry["path"] == "/_dash-update-component"
    assert entry["callback"] == payload["output"] and entry["session"] == sid
    assert "ValueError: boom" in entry["exc"]


def test_outside_a_request_json_has_the_four_fields_and_text_stays_readable():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("stackscope.telemetry-test")
    logger.addHandler(handler)
    try:
        handler.setFormatter(logsetup.formatter("json"))
        logger.warning("probe round done in %d ms", 12)
        entry = json.loads(stream.getvalue())
        assert set(entry) == {"time", "level", "logger", "message"}
        assert entry["message"] == "probe round done in 12 ms"
        handler.setFormatter(logsetup.formatter("text"))
        logger.warning("readable")
        assert stream.getvalue().splitlines()[-1].endswith("stackscope.telemetry-test readable")
    finally:
        logger.removeHandler(handler)


# --- for real: gunicorn's workers scraped by Prometheus ----------------------------------------

def test_prometheus_scrapes_gunicorn_workers_summed_with_its_token(tmp_path, write_config):
    app = create_app(write_config())  # for a callback's request body only
    name = dash_calls.find(app, f"{ids.LOGS_REQUEST}.data")
    tabs = f"{ids.TABS}.value"
    payload = json.dumps(dash_calls.body(app, name, {tabs: "status"}, triggered=[tabs]))
    body = f'metrics_token = "{TOKEN}"\n\n[log]\nformat = "json"\n'
    calls, auth = 12, {"Authorization": f"Bearer {TOKEN}"}
    with served(tmp_path, "gunicorn", body, "--workers", "2") as proc:
        for _ in range(calls):  # a new connection each: gunicorn spreads them over its workers
            answer = requests.post(proc.url + "/_dash-update-component", data=payload,
                                   headers={"Content-Type": "application/json",
                                            "Connection": "close"}, timeout=15)
            assert answer.status_code == 204
        assert requests.get(proc.url + "/metrics", timeout=15).status_code == 401
        text = requests.get(proc.url + "/metrics", headers=auth, timeout=15).text
        print(f"/metrics: {len(text.encode()):,} bytes, "
              f"{sum(1 for x in text.splitlines() if x and x[0] != '#')} samples")
        # Whichever worker answers the scrape, it counts every worker's calls.
        assert f'stackscope_callback_duration_seconds_count{{callback="{name}"}} {calls:.1f}' \
            in text.splitlines()
        scrape = {"global": {"scrape_interval": "1s"},
                  "scrape_configs": [{"job_name": "stackscope",
                                      "authorization": {"credentials": TOKEN},
                                      "static_configs": [{"targets": [proc.url[7:]]}]}]}
        with services.start_prometheus(tmp_path / "prometheus",
                                       config_yaml=json.dumps(scrape)) as prom:
            services.wait_scraped(prom.url, ["stackscope"])
            assert_series_arrived(prom.url, name, calls)
    entries = [json.loads(x) for x in proc.log_path.read_text().splitlines() if x.strip()]
    assert any(e["logger"] == "gunicorn.error" and e["message"].startswith("Booting worker")
               for e in entries)  # every line one JSON object, gunicorn's own too


def assert_series_arrived(url: str, callback: str, calls: int) -> None:
    """stackscope_* series are in Prometheus, and the stackscope panels' queries run."""
    def query(text: str) -> dict:
        return requests.get(url + "/api/v1/query", params={"query": text}, timeout=5).json()

    got = query(f'stackscope_callback_duration_seconds_count{{callback="{callback}"}}')
    assert [r["value"][1] for r in got["data"]["result"]] == [str(calls)]
    names = {r["metric"]["__name__"] for r in query(
        'count by (__name__) ({__name__=~"stackscope_.*", job="stackscope"})')["data"]["result"]}
    assert {"stackscope_probe_round_duration_seconds_bucket", "stackscope_active_sessions",
            "stackscope_callback_duration_seconds_bucket"} <= names
    for panel in OWN_SEEDS:  # the Metrics tab's "stackscope" group
        answer = query(expand(panel.query, step=15, scrape_interval=1))
        assert answer["status"] == "success", (panel.slug, answer)

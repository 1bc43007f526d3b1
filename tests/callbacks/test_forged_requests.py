"""Forged callback requests, posted to the real Dash endpoint: the server owns its limits.

Everything a callback reads from the browser can be forged. Each test posts what the
renderer would, with one value replaced, through the app's real Flask stack; upstreams are
real HTTP servers (the Loki double, a recording Prometheus, a counting HTTP service) so the
tests see what actually reached them. A forged value gets a clear message — HTTP 400 or an
in-panel error — never a 500, and the upstreams get at most the values the config allows.
"""

from __future__ import annotations

import json
import time

import pytest

from app import create_app
from callbacks import session
from tests import dash_calls
from tests.counting_server import CountingServer
from tests.loki_fixtures import DEMO_START, demo_entries
from tests.recording_upstream import RecordingUpstream

NOW_MS = int(time.time() * 1000)
STATE = {"from": "now-1h", "to": "now", "preset": "now-1h", "back": []}
DEMO_STATE = {"from": str(DEMO_START // 10**6), "to": str(DEMO_START // 10**6 + 120_000),
              "preset": "now-1h", "back": []}
QUERY = '{app="api"}'
MATRIX = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"job": "api"}, "values": [[NOW_MS / 1000 - 60, "1"], [NOW_MS / 1000, "2"]]}]}}
                    ).encode()
LABELS = json.dumps({"status": "success", "data": ["api"]}).encode()
#: a JSON number too large for a float: Python's json reads it as infinity
HUGE = "1e999"


@pytest.fixture
def prometheus():
    server = RecordingUpstream({"/api/v1/query_range": MATRIX, "/api/v1/label/job/values": LABELS,
                                "/api/v1/label/instance/values": LABELS})
    yield server
    server.stop()


@pytest.fixture
def probed():
    server = CountingServer(body=b"ok")
    yield server
    server.stop()


@pytest.fixture
def stack(write_config, make_loki_double, prometheus, probed):
    """The app on a Loki double, a recording Prometheus and one probed HTTP service."""

    def start(extra: str = ""):
        loki = make_loki_double(demo_entries())
        config = write_config(f"""
[prometheus]
url = "{prometheus.url}"
[loki]
url = "{loki.url}"
[cache]
status_ttl = 600
[[panels]]
title = "Up"
query = "up"
[[services]]
name = "web"
kind = "http"
port = {probed.port}
{extra}""")
        app = create_app(config)
        client = app.server.test_client()
        client.get("/")  # the page load gives this browser its session cookie
        return app, client, loki

    return start


def post(app, client, output, values, *, triggered=(), match=None, raw=None):
    """Post a callback; ``raw`` replaces one JSON value by literal text (``1e999``)."""
    body = dash_calls.body(app, dash_calls.find(app, output), values, triggered=triggered,
                           match=match)
    text = json.dumps(body)
    if raw:
        text = text.replace(json.dumps(raw[0]), raw[1])
    return client.post(dash_calls.ENDPOINT, data=text, content_type="application/json")


def logs_request(**fields) -> dict:
    return {"at": 1.0, "force": False, "live": False, "direction": "forward", "limit": 100,
            "query": QUERY, "start_ns": DEMO_START, "end_ns": DEMO_START + 120 * 10**9,
            **fields}


def table(app, client, req, **kw):
    return post(app, client, "logs-grid.rowData", {"logs-request.data": req}, **kw)


def loki_ranges(loki) -> list[dict]:
    return [r["params"] for r in loki.requests if r["path"].endswith("/query_range")]


# --- Logs: the request store ---------------------------------------------------------------

def test_a_forged_limit_reaches_loki_clamped_to_the_config(stack):
    app, client, loki = stack("[logs]\nmax_limit = 50\n")
    for limit in (10**9, -5, "lots", None):
        resp = table(app, client, logs_request(limit=limit, query=f'{QUERY} |= "{limit}"'))
        assert resp.status_code == 200
    assert [int(p["limit"]) for p in loki_ranges(loki)] == [50, 1, 50, 50]


def test_force_true_reaches_loki_once_per_interval_however_often_forged(stack):
    app, client, loki = stack("[limits]\nforce_interval = 600\n")
    forced = logs_request(force=True)
    for _ in range(30):
        assert table(app, client, forced).status_code == 200
    assert len(loki_ranges(loki)) == 1  # the first; the other 29 were served from the cache
    other = app.server.test_client()
    other.get("/")  # another browser's "Run" still refreshes (the interval: test_limits.py)
    assert table(app, other, forced).status_code == 200
    assert len(loki_ranges(loki)) == 2


@pytest.mark.parametrize(("req", "words"), [
    (logs_request(start_ns="9" * 400), "start_ns"),
    (logs_request(end_ns=10**400), "out of range"),
    (logs_request(start_ns=float("nan")), "start_ns"),
    (logs_request(end_ns=DEMO_START - 1), "must be before"),
    (logs_request(end_ns=DEMO_START + 400 * 86400 * 10**9), "logs.max_range"),
    (logs_request(direction="sideways"), "direction"),
    (logs_request(query=["{a=\"b\"}"]), "query: expected text"),
    (logs_request(query="x" * 30_000), "too long"),
    ("a string", "expected an object"),
    ([1, 2], "expected an object"),
])
def test_a_forged_request_is_refused_in_the_panel_and_never_reaches_loki(stack, req, words):
    app, client, loki = stack()
    resp = table(app, client, req)
    assert resp.status_code == 200
    assert words in json.dumps(dash_calls.response_of(resp)["logs-query-error"])
    assert loki_ranges(loki) == []


def test_the_volume_and_label_browser_refuse_too(stack):
    app, client, loki = stack()
    forged = logs_request(start_ns="9" * 400)
    resp = post(app, client, "logs-volume.figure", {"logs-request.data": forged})
    assert resp.status_code == 200 and "start_ns" in resp.get_data(as_text=True)
    resp = post(app, client, "logs-label-name.options", {"logs-request.data": forged})
    assert resp.status_code == 400 and "start_ns" in resp.get_data(as_text=True)
    assert loki.requests == []


@pytest.mark.parametrize(("epoch", "words"), [("9" * 400, "too long"),
                                               ("9" * 60, "out of range")])
def test_a_run_with_a_huge_epoch_says_so_under_the_editor(stack, epoch, words):
    app, client, _ = stack()
    state = {**STATE, "from": epoch}
    resp = post(app, client, "logs-request.data", {
        "tabs.value": "logs", "logs-run.n_clicks": 1, "logs-query.value": QUERY,
        "logs-range-state.data": state, "logs-limit.value": HUGE,
        "logs-direction.value": "backward"}, triggered=["logs-run.n_clicks"],
        raw=(HUGE, "1e999"))
    req = dash_calls.response_of(resp)["logs-request"]["data"]
    assert words in req["error"] and "from" in req["error"] and "start_ns" not in req
    assert req["limit"] == 1000  # 1e999 is no limit: the configured default


# --- Metrics: range, width, step ------------------------------------------------------------

def render(app, client, state, width, *, adhoc="", slug="up", raw=None):
    return post(app, client, "metrics-graph.figure", {
        "metrics-range-state.data": state, "metrics-width.data": width,
        "metrics-query-store.data": adhoc}, triggered=["metrics-range-state.data"],
        match={"panel": slug}, raw=raw)


def notice_text(resp) -> str:
    return json.dumps(dash_calls.response_of(resp))


def test_a_width_of_1e999_is_clamped_and_prometheus_gets_a_bounded_step(stack, prometheus):
    app, client, _ = stack("[metrics]\nmax_points = 500\n")
    for width in ("WIDTH", -300, "NaN", "wide", 10**400):
        raw = ("WIDTH", HUGE) if width == "WIDTH" else None  # sent as the literal 1e999
        resp = render(app, client, STATE, width, raw=raw)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    asked = [r["params"] for r in prometheus.to("/api/v1/query_range")]
    assert len(asked) >= 1
    for params in asked:
        points = (float(params["end"]) - float(params["start"])) / float(params["step"]) + 1
        assert points <= 501


@pytest.mark.parametrize(("state", "words"), [
    ({**STATE, "from": "9" * 400}, "too long"),
    ({**STATE, "from": "9" * 60}, "out of range"),
    ({**STATE, "from": "now-99999999999999999999999d"}, "out of range"),
    ({**STATE, "from": "1000000000", "to": "2000000000"}, "metrics.max_range"),
    ({**STATE, "from": 5}, "expected text"),
    ({"to": "now"}, "from"),
    ("now-1h", "expected an object"),
    ({**STATE, "back": "x"}, "back"),
])
def test_a_forged_range_is_refused_in_the_panel(stack, prometheus, state, words):
    app, client, _ = stack()
    resp = render(app, client, state, 800)
    assert resp.status_code == 200 and words in notice_text(resp)
    assert prometheus.to("/api/v1/query_range") == []


def test_the_range_picker_answers_400_to_a_forged_state(stack):
    app, client, _ = stack()
    for output in ("metrics-range-label.children", "metrics-range-live.children"):
        resp = post(app, client, output, {"metrics-range-state.data": {"from": ["x"]}})
        assert resp.status_code == 400 and "range state" in resp.get_data(as_text=True)


def test_a_url_with_a_400_digit_epoch_is_ignored(stack):
    app, client, _ = stack()
    resp = post(app, client, "metrics-range-state.data", {
        "url.search": "?metrics.from=" + "9" * 400, "metrics-range-state.data": STATE},
        triggered=["url.search"])
    # nothing changes: the URL names no valid range (it was a 500 before)
    assert "metrics-range-state" not in dash_calls.response_of(resp)


def test_ten_thousand_chosen_values_are_a_400_and_never_reach_prometheus(stack, prometheus):
    app, client, _ = stack()
    many = [f"job-{i}" for i in range(10_000)]
    resp = post(app, client, "metrics-graph.figure", {
        "metrics-range-state.data": STATE, "metrics-width.data": 800,
        "metrics-query-store.data": "", "metrics-job.value": many},
        triggered=["metrics-job.value"], match={"panel": "up"})
    assert resp.status_code == 400 and "at most" in resp.get_data(as_text=True)
    resp = post(app, client, "metrics-query.value", {
        "url.search": "?" + "&".join(f"metrics.job=j{i}" for i in range(10_000))},
        triggered=["url.search"])
    assert resp.status_code == 400
    assert prometheus.to("/api/v1/query_range") == []


def test_several_chosen_values_reach_prometheus_as_one_escaped_alternation(stack, prometheus):
    app, client, _ = stack("[[panels]]\ntitle = \"Jobs\"\nquery = 'up{job=~\"$job\"}'\n")
    resp = post(app, client, "metrics-graph.figure", {
        "metrics-range-state.data": STATE, "metrics-width.data": 800,
        "metrics-query-store.data": "", "metrics-job.value": ["api", "a.b"]},
        triggered=["metrics-job.value"], match={"panel": "jobs"})
    assert resp.status_code == 200
    [asked] = prometheus.to("/api/v1/query_range")
    assert asked["params"]["query"] == 'up{job=~"api|a\\\\.b"}'


# --- rate limits ---------------------------------------------------------------------------

def test_refresh_now_probes_once_per_interval_per_browser(stack, probed):
    app, client, _ = stack("[limits]\nforce_interval = 60\n")
    click = {"status-refresh.n_clicks": 1}
    first = post(app, client, "status-cards.children", click, triggered=["status-refresh.n_clicks"])
    assert first.status_code == 200 and probed.count == 1
    for _ in range(29):
        resp = post(app, client, "status-cards.children", click,
                    triggered=["status-refresh.n_clicks"])
        assert resp.status_code == 200
    assert probed.count == 1  # 30 forged clicks, one probe round
    assert "limits.force_interval" in notice_text(resp)
    other = app.server.test_client()
    other.get("/")  # another browser has its own budget
    post(app, other, "status-cards.children", click, triggered=["status-refresh.n_clicks"])
    assert probed.count == 2


def test_ad_hoc_queries_are_rate_limited_per_browser(stack, prometheus):
    app, client, _ = stack("[limits]\nqueries_per_minute = 5\n")
    answers = [render(app, client, STATE, 800, adhoc=f"up + {i}", slug="adhoc")
               for i in range(8)]
    assert [a.status_code for a in answers] == [200] * 8
    assert len(prometheus.to("/api/v1/query_range")) == 5
    assert "limits.queries_per_minute" in notice_text(answers[-1])
    other = app.server.test_client()
    other.get("/")
    render(app, other, STATE, 800, adhoc="up + 100", slug="adhoc")
    assert len(prometheus.to("/api/v1/query_range")) == 6


def test_logs_runs_share_the_query_budget(stack):
    app, client, loki = stack("[limits]\nqueries_per_minute = 3\n")
    answers = [table(app, client, logs_request(query=f'{QUERY} |= "{i}"')) for i in range(5)]
    assert len(loki_ranges(loki)) == 3
    assert "Too many queries" in json.dumps(dash_calls.response_of(answers[-1]))


def test_the_session_cookie_is_set_once_and_read_back(stack):
    _, client, _ = stack()
    cookie = client.get_cookie(session.COOKIE)
    assert cookie is not None and len(cookie.value) == 22 and cookie.http_only
    assert session.COOKIE not in client.get("/").headers.get("Set-Cookie", "")


# --- never a 500: every server callback, every input, hostile values ------------------------

NASTY = [None, True, -1, 0, 10**400, "9" * 400, "", "x", ["a", 1], {"a": [1]}, {"from": 5},
         "NaN", "Infinity"]
BASELINE = {
    "url.search": "?tab=metrics", "tabs.value": "logs",
    "status-interval.n_intervals": 1, "status-refresh.n_clicks": 1, "status-pause.n_clicks": 1,
    "status-interval.disabled": False,
    "metrics-width.data": 800, "metrics-job.value": "api", "metrics-query-store.data": "up",
    "metrics-query.value": "up", "metrics-query.n_submit": 1, "metrics-query-run.n_clicks": 1,
    "metrics-job.options": [{"label": "api", "value": "api"}], "metrics-csv.n_clicks": 1,
    "metrics-graph.relayoutData": [({"panel": "up"}, {"xaxis.range[0]": "2024-05-01 12:00:00",
                                                      "xaxis.range[1]": "2024-05-01 13:00:00"})],
    "metrics-graph.clickData": [({"panel": "up"}, {"points": [
        {"customdata": ["r1", "t1", 1714564800.5, 0.2]}]})],
    "logs-run.n_clicks": 1, "logs-preset.value": QUERY, "logs-limit.value": 100,
    "logs-direction.value": "backward", "logs-query.value": QUERY, "logs-request-id.value": "",
    "logs-request.data": logs_request(), "logs-shown.data": {"at": 1.0, "n": 5, "limit": 100},
    "logs-total.data": {"at": 1.0, "m": 60},
    "logs-volume.relayoutData": {"xaxis.autorange": True}, "logs-label-name.value": "app",
    "logs-label-value.n_clicks": [({"name": "app", "value": "api"}, 1)],
    "logs-available.data": ["app"], "logs-columns.value": ["app"], "logs-search.value": "x",
    "logs-numeric.data": [],
    "logs-field-filter.n_clicks": [({"kind": "json", "name": "status", "value": "401"}, 1)],
    "logs-grid.selectedRows": [{"labels": '{app="api"}', "@ns": "1714564800000000123",
                                "@id": "x", "line": '{"status": 401}', "@time": "t"}],
    "logs-export-file.data": None,
    "alerts-state-filter.value": ["firing"], "alerts-severity-filter.value": ["critical"],
    "alerts-label-filter.value": "team=ops", "alerts-changed.data": 0,
    "alerts-history-window.value": "6h",
    "silence-asked.data": {"type": "silence-open", "key": "0" * 16, "at": 1},
    "silence-cancel.n_clicks": 1, "silence-create.n_clicks": 1, "silence-key.data": "0" * 16,
    "silence-duration.value": "2h", "silence-custom.value": "", "silence-comment.value": "x",
    "silence-expire-asked.data": {"type": "silence-expire", "id": "not-a-uuid", "at": 1},
    "metrics-compare.value": "band", "metrics-annotate.value": ["deploys", "alerts"],
    "metrics-legend.value": "table", "metrics-query-recent.data": ["up", "sum(up)"],
    "metrics-inspect.n_clicks": [({"panel": "request-rate"}, 1)],
    "metrics-full.n_clicks": 1,
    "metrics-anomaly.n_clicks": [({"panel": "error-rate", "from": "2024-05-01T10:00:00Z",
                                   "to": "2024-05-01T12:00:00Z"}, 1)],
}
for _prefix in ("metrics", "logs"):
    BASELINE.update({
        f"{_prefix}-range-state.data": DEMO_STATE, f"{_prefix}-range-presets.value": "now-6h",
        f"{_prefix}-range-apply.n_clicks": 1, f"{_prefix}-range-back.n_clicks": 1,
        f"{_prefix}-range-zoom.data": {"from": "2024-05-01T12:00:00Z",
                                       "to": "2024-05-01T12:30:00Z"},
        f"{_prefix}-range-dates.start_date": "2024-05-01", f"{_prefix}-range-from.value":
            "2024-05-01 12:00", f"{_prefix}-range-dates.end_date": "2024-05-01",
        f"{_prefix}-range-to.value": "2024-05-01 13:00", f"{_prefix}-range-live.n_clicks": 1,
        f"{_prefix}-range-from.n_submit": 1, f"{_prefix}-range-to.n_submit": 1,
        f"{_prefix}-range-refresh.value": "10",
        f"{_prefix}-range-interval.n_intervals": 1, f"{_prefix}-range-interval.disabled": False})


def server_callbacks(app) -> list[str]:
    """Every callback the server runs, but the export (a background job: see its tests)."""
    return [k for k, cb in app.callback_map.items()
            if "callback" in cb and not cb.get("background")]


def test_no_forged_value_gets_a_500(stack):
    app, client, _ = stack("[limits]\nqueries_per_minute = 100000\n")
    failures, calls = [], 0
    for key in server_callbacks(app):
        pattern = any(isinstance(i, dict) for i, _ in dash_calls.outputs_of(key))
        match = {"panel": "up"} if pattern else None
        names = dash_calls.dependencies(app, key)
        first_input = next(n for n, is_input in names if is_input)
        for name, is_input in names:
            if name.endswith(".id"):
                continue  # a component's own id: see the slug test above
            for nasty in NASTY:
                resp = post_forged(app, client, key, name, nasty,
                                   trigger=name if is_input else first_input, match=match)
                calls += 1
                if resp.status_code not in (200, 204, 400) or (
                        resp.status_code == 400 and not resp.get_data(as_text=True).strip()):
                    failures.append((key[:60], name, repr(nasty)[:30], resp.status_code))
    assert calls > 500
    assert failures == []


def post_forged(app, client, key, name, nasty, *, trigger, match):
    """``key``'s callback with valid values everywhere but ``name``, set to ``nasty``."""
    values = {**BASELINE, name: nasty}
    baseline = BASELINE.get(name)
    if isinstance(baseline, list) and baseline and isinstance(baseline[0], tuple):
        values[name] = [(baseline[0][0], nasty)]  # an ALL input: its one element forged
    body = json.dumps(dash_calls.body(app, key, values, triggered=[trigger], match=match))
    # NaN and 1e999 as the literal JSON a forger sends (Python reads them as nan and inf)
    literal = {"NaN": "NaN", "Infinity": "1e999"}.get(nasty) if isinstance(nasty, str) else None
    if literal:
        body = body.replace(json.dumps(nasty), literal)
    return client.post(dash_calls.ENDPOINT, data=body, content_type="application/json")


@pytest.mark.parametrize("forged", [None, "up", {"panel": "nope"}, {"panel": 5}, [1]])
def test_a_forged_panel_id_is_a_400(stack, forged):
    app, client, _ = stack()
    key = dash_calls.find(app, "metrics-graph.figure")
    body = dash_calls.body(app, key, {"metrics-range-state.data": STATE,
                                      "metrics-width.data": 800, "metrics-graph.id": forged},
                           triggered=["metrics-range-state.data"], match={"panel": "up"})
    resp = client.post(dash_calls.ENDPOINT, data=json.dumps(body),
                       content_type="application/json")
    assert resp.status_code == 400 and resp.get_data(as_text=True).strip()

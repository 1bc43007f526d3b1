"""The predefined LogQL queries: configured ones win, seeds otherwise, $request_id filled safely."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import requests

from query.log_queries import SEEDS, expand, needs_request_id, predefined
from query.promql import escape_value
from stack.loki_api import parse_query


def test_seeds_are_used_only_when_none_are_configured():
    assert predefined(()) == SEEDS
    configured = (SimpleNamespace(name="API errors", query='{job="api"} |= "error"'),)
    assert [(q.name, q.query) for q in predefined(configured)] == [
        ("API errors", '{job="api"} |= "error"')]


def test_seeds_cover_the_issue_list():
    names = " ".join(q.name.lower() for q in SEEDS)
    for topic in ("errors", "task-creation", "auth", "websocket", "latency", "request_id"):
        assert topic in names
    assert sum(needs_request_id(q.query) for q in SEEDS) == 1


@pytest.mark.parametrize("seed", SEEDS, ids=lambda q: q.name)
def test_seeds_parse_as_logql(seed):
    # The Loki API stand-in parses the LogQL subset it serves, numeric label filters included.
    parse_query(expand(seed.query, "req-1"))


def test_request_id_is_escaped_into_the_query():
    trace = next(q.query for q in SEEDS if needs_request_id(q.query))
    assert expand(trace, ' a"b\\ ').endswith('request_id="a\\"b\\\\"')
    assert expand('{job="x"}', None) == '{job="x"}'
    with pytest.raises(ValueError, match="request_id"):
        expand(trace, "  ")


def test_logql_escape_round_trips_through_the_parser():
    text = 'quote " backslash \\ newline \n'
    query = parse_query(f'{{job="{escape_value(text)}"}}')
    assert query.matchers[0].value == text


# --- each seed against the lines it is meant for -------------------------------------------

API = {"job": "api", "service": "demo-api"}
NGINX = {"job": "nginx", "service": "nginx"}


def api_line(level, logger, message, compact=True, **fields):
    """A demo-API JSON line (``json.dumps`` compact like the API, or with spaces)."""
    record = {"timestamp": "2026-12-01T12:00:00.000000Z", "level": level, "logger": logger,
              "message": message, "request_id": "r-0", **fields}
    return json.dumps(record, separators=(",", ":") if compact else None)


def nginx_line(request, status, size):
    return (f'127.0.0.1 - - [01/Dec/2026:12:00:00 +0000] "{request} HTTP/1.1" {status} {size} '
            '"-" "python-urllib/3.13"')


def nginx_json(method, uri, status, seconds, size=120, request_id="r-1"):
    """An access line in the demo NGINX's JSON format (``stack.services.NGINX_LOG_FORMAT``)."""
    return json.dumps({"time": "2026-12-01T12:00:00+00:00", "msec": "1796126400.000",
                       "remote_addr": "127.0.0.1", "method": method, "uri": uri,
                       "status_code": status, "body_bytes_sent": size,
                       "request_time": f"{seconds:.3f}", "upstream_response_time": "",
                       "request_id": request_id, "user_agent": ""}, separators=(",", ":"))


def http(level, method, route, status, ms, **extra):
    return api_line(level, "api.http", f"{method} {route} {status} in {ms:.0f} ms",
                    method=method, route=route, status_code=status, duration_ms=ms, **extra)


#: (line, stream, the seeds that must return it); every other seed must leave it out.
LINES = [
    (http("info", "GET", "/api/items/:id", 200, 0.403), API, set()),
    (http("info", "GET", "/api/items/:id", 200, 401.0), API, set()),
    (api_line("debug", "api.cache", "item 403 not cached", status=200), API, set()),
    (http("warn", "POST", "/api/auth/login", 401, 12.5), API, {"Auth failures"}),
    (api_line("warn", "api.auth", "authentication failed for u1: invalid password (401 "
              "unauthorized)", route="/api/auth/login", status=401), API, {"Auth failures"}),
    (api_line("WARNING", "api.admin", "no access", compact=False, status=403), API,
     {"Auth failures"}),
    (api_line("info", "api.tasks", "task created", route="/api/tasks", status=201), API,
     set()),
    (http("info", "POST", "/api/tasks", 201, 40.0), API, set()),
    (api_line("error", "api.tasks", "task creation failed: database timeout after 2 s",
              route="/api/tasks", status=500), API, {"Errors", "Task-creation failures"}),
    (http("error", "POST", "/api/tasks", 500, 2001.2), API,
     {"Errors", "Task-creation failures", "High-latency requests (> 1 s)"}),
    (http("error", "GET", "/api/search", 500, 30.0), API, {"Errors"}),
    (api_line("CRIT", "api.main", "out of memory"), API, {"Errors"}),
    (http("warn", "GET", "/api/search", 200, 1500.0), API, {"High-latency requests (> 1 s)"}),
    (http("info", "GET", "/api/ws", 200, 5000.0), API, set()),
    (api_line("warn", "api.ws", "WebSocket disconnected (close code 1006)", route="/api/ws",
              status=200), API, {"WebSocket disconnections"}),
    (api_line("info", "api.ws", "WebSocket closed (close code 1000)", route="/api/ws",
              status=200), API, set()),
    (api_line("info", "api.http", "the one traced", request_id="req-42"), API,
     {"Request trace (request_id)"}),
    (nginx_line("POST /api/auth/login", 401, 27), NGINX, {"Auth failures"}),
    (nginx_line("GET /api/items/7", 200, 403), NGINX, set()),
    (nginx_line("GET /api/search?q=unauthorized", 200, 88), NGINX, set()),
    (nginx_line("POST /api/tasks", 500, 33), NGINX, {"Errors", "Task-creation failures"}),
    (nginx_line("GET /api/search?q=tasks", 502, 150), NGINX, {"Errors"}),
    (nginx_line("GET /api/ws?hold=5", 101, 0), NGINX, set()),
    (nginx_json("POST", "/api/auth/login", 401, 0.012), NGINX, {"Auth failures"}),
    (nginx_json("GET", "/api/items/7", 200, 0.403, size=403), NGINX, set()),
    (nginx_json("POST", "/api/tasks", 500, 2.001), NGINX,
     {"Errors", "Task-creation failures", "High-latency requests (> 1 s)"}),
    (nginx_json("GET", "/api/search?q=tasks", 502, 0.2), NGINX, {"Errors"}),
    (nginx_json("GET", "/api/ws?hold=5", 200, 5.0), NGINX, set()),
    (nginx_json("GET", "/api/search?q=x", 200, 1.5), NGINX, {"High-latency requests (> 1 s)"}),
    (nginx_json("GET", "/api/items/1", 200, 0.01, request_id="req-42"), NGINX,
     {"Request trace (request_id)"}),
]


@pytest.fixture(scope="module")
def lines_loki():
    from stack.loki_api import LokiAPI
    with LokiAPI() as api:
        api.load([(10**18 + i, labels, line) for i, (line, labels, _) in enumerate(LINES)])
        yield api


@pytest.mark.parametrize("seed", SEEDS, ids=lambda q: q.name)
def test_each_seed_returns_its_lines_and_no_others(seed, lines_loki):
    query = expand(seed.query, "req-42")
    resp = requests.get(lines_loki.url + "/loki/api/v1/query_range", timeout=10, params={
        "query": query, "start": str(10**18), "end": str(10**18 + len(LINES)), "limit": "100"})
    assert resp.status_code == 200, resp.text
    got = {v[1] for s in resp.json()["data"]["result"] for v in s["values"]}
    want = {line for line, _, seeds in LINES if seed.name in seeds}
    assert want and got == want

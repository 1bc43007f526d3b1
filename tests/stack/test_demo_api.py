"""The demo API: its routes against a real Redis, its metrics, its JSON log lines, its traffic."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
import threading
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stack import demo_api
from stack.demo_api import DemoAPI, JsonLog, Metrics, Redis, RedisError

FIELDS = {"timestamp", "level", "logger", "message", "request_id", "user_id", "trace_id",
          "span_id"}
RFC3339_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def api(redis_server, tmp_path):
    """A DemoAPI on the session's real Redis that does not sleep out its latencies."""
    made = DemoAPI(Redis(redis_server.host, redis_server.port), JsonLog(tmp_path / "api.log"),
                   Metrics(), rng=random.Random(7), sleep=lambda seconds: None)
    yield made
    made.log.close()


def log_lines(api):
    return [json.loads(line) for line in api.log.path.read_text().splitlines()]


def value(api, name, **labels):
    for family in text_string_to_metric_families(
            demo_api.generate_latest(api.metrics.registry).decode()):
        for s in family.samples:
            if s.name == name and labels.items() <= s.labels.items():
                return s.value
    return None


def test_item_lookups_miss_then_hit_the_real_redis(api):
    item = str(random.randint(10**6, 10**7))  # not cached by an earlier test
    first = api.handle("GET", f"/api/items/{item}", {}, b"")
    second = api.handle("GET", f"/api/items/{item}", {}, b"")
    assert first[0] == second[0] == 200 and first[1] == second[1]
    assert value(api, "cache_misses_total") == 1 and value(api, "cache_hits_total") == 1
    assert api.redis.command("TTL", f"item:{item}") > 100


def test_requests_are_counted_and_timed_by_route(api):
    api.handle("POST", "/api/auth/login", {}, b'{"password": "demo"}')
    api.handle("POST", "/api/auth/login", {}, b'{"password": "nope"}')
    api.handle("GET", "/api/nothing-here", {}, b"")
    login = {"method": "POST", "route": "/api/auth/login"}
    assert value(api, "http_requests_total", **login, status="200") == 1
    assert value(api, "http_requests_total", **login, status="401") == 1
    assert value(api, "http_requests_total", route="unmatched", status="404") == 1
    assert value(api, "http_request_duration_seconds_count", route="/api/auth/login") == 2
    assert value(api, "app_build_info", version=demo_api.VERSION) == 1


def test_every_log_line_carries_the_backend_fields(api):
    headers = {"X-Request-ID": "req-1", "X-User-ID": "user-9",
               "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    api.handle("POST", "/api/auth/login", headers, b'{"password": "wrong"}')
    lines = log_lines(api)
    assert [(x["logger"], x["level"]) for x in lines] == [("api.auth", "warn"),
                                                           ("api.http", "warn")]
    for line in lines:
        assert set(line) >= FIELDS
        assert RFC3339_MICRO.match(line["timestamp"])
        datetime.fromisoformat(line["timestamp"])
        assert (line["request_id"], line["user_id"]) == ("req-1", "user-9")
        assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
    assert "authentication failed" in lines[0]["message"] and "401" in lines[0]["message"]
    assert lines[1]["status_code"] == 401 and lines[1]["duration_ms"] >= 0


def test_failures_log_what_the_log_seeds_look_for(redis_server, tmp_path):
    failing = {r.route: dataclasses.replace(r, fail_ratio=1.0) for r in demo_api.ROUTES}
    api = DemoAPI(Redis(redis_server.host, redis_server.port), JsonLog(tmp_path / "api.log"),
                  Metrics(), sleep=lambda seconds: None, routes=failing)
    assert api.handle("POST", "/api/tasks", {}, b"{}")[0] == 500
    assert api.handle("GET", "/api/search?q=x", {}, b"")[0] == 500
    errors = [(x["logger"], x["message"]) for x in log_lines(api) if x["level"] == "error"]
    # The access line's duration is the real clock's (a loaded machine takes a few ms).
    errors = [(lg, re.sub(r" in \d+ ms$", " in N ms", msg)) for lg, msg in errors]
    assert errors == [("api.tasks", "task creation failed: database timeout after 2 s"),
                      ("api.http", "POST /api/tasks 500 in N ms"),
                      ("api.search", "search backend timed out"),
                      ("api.http", "GET /api/search 500 in N ms")]


def test_redis_down_gives_503_not_a_crash(closed_port, tmp_path):
    api = DemoAPI(Redis("127.0.0.1", closed_port), JsonLog(tmp_path / "api.log"), Metrics(),
                  sleep=lambda seconds: None)
    assert api.health()[0] == 503
    status, body, _ = api.handle("GET", "/api/items/5", {}, b"")
    assert (status, body) == (503, {"error": "cache unavailable"})
    first = log_lines(api)[0]
    assert (first["logger"], first["level"]) == ("api.cache", "error")
    assert first["message"].startswith("Redis unavailable: ")


@pytest.mark.parametrize("wire, expected", [
    (b"+OK\r\n", "OK"), (b":42\r\n", 42), (b"$5\r\nhello\r\n", b"hello"), (b"$-1\r\n", None),
    (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]), (b"$0\r\n\r\n", b""),
])
def test_resp_replies(wire, expected):
    assert demo_api.read_reply(io.BytesIO(wire)) == expected


def test_resp_errors_and_commands():
    with pytest.raises(RedisError, match="WRONGTYPE"):
        demo_api.read_reply(io.BytesIO(b"-WRONGTYPE Operation against a key\r\n"))
    with pytest.raises(EOFError):
        demo_api.read_reply(io.BytesIO(b""))
    wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"
    assert demo_api.encode_command(("SET", "k", "é")) == wire


def test_json_log_moves_aside_past_its_size(tmp_path):
    log = JsonLog(tmp_path / "api.log", now=lambda: 0.0, max_bytes=300)
    for i in range(5):
        log.write("info", "t", f"line {i}", request_id="r", user_id="u", trace_id="t", span_id="s")
    log.close()
    kept = (tmp_path / "api.log").read_text().splitlines()
    moved = (tmp_path / "api.log.1").read_text().splitlines()
    assert [json.loads(x)["message"] for x in moved + kept][-len(kept):] == [
        f"line {i}" for i in range(5 - len(kept), 5)]
    assert json.loads(kept[0])["timestamp"] == "1970-01-01T00:00:00.000000Z"


def test_daily_shape_is_quiet_at_night_busy_in_the_afternoon_lower_at_weekends():
    monday = 4 * 86_400  # 1970-01-05
    assert demo_api.daily_shape(monday + 15 * 3600) == pytest.approx(1.0)
    assert demo_api.daily_shape(monday + 3 * 3600) == pytest.approx(0.35)
    assert demo_api.daily_shape(monday + 5 * 86_400 + 15 * 3600) == pytest.approx(0.7)


def test_http_server_and_its_own_traffic(api):
    server = demo_api.serve(api, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        traffic = demo_api.Traffic(f"http://127.0.0.1:{server.server_address[1]}",
                                   rng=random.Random(3))
        statuses = [traffic.call(*traffic.pick()) for _ in range(40)]
        assert traffic.call("GET", "/health") == 200
        assert traffic.call("GET", "/api/ws?hold=0") == 200
    finally:
        server.shutdown()
        server.server_close()
    assert set(statuses) <= {200, 201, 401, 500} and statuses.count(200) > 20
    routes = {x["route"] for x in log_lines(api) if x["logger"] == "api.http"}
    assert routes == {r.route for r in demo_api.ROUTES} | {demo_api.WS_ROUTE}
    assert value(api, "http_requests_total", route="/api/ws") == 1
    assert value(api, "http_active_connections") == 0
    assert {x["logger"] for x in log_lines(api)} >= {"api.http", "api.ws"}

"""The demo backend API that ``make run`` starts: live traffic, a real Redis, metrics, JSON logs.

``python -m stack.demo_api --port 8000 --redis 127.0.0.1:6379 --log-file .stack/logs/api.log``
serves ``/health``, ``/metrics`` (prometheus_client) and a few ``/api/`` routes, and calls its
own routes from background threads (through NGINX when ``--traffic-url`` says so) at a rate
that follows the day: quiet at 03:00 UTC, busiest at 15:00 UTC, quieter at weekends.

The workload model below (routes, latencies, error ratios, the daily shape) is shared with
``stack.history``, which writes the same series for the past week, so history and live data
look alike and carry the same labels.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as openmetrics_exposition

from stack.native_histogram import PROTOBUF_TYPE, NativeHistogram

# ---------------------------------------------------------------- the workload model

#: The version the live API reports in app_build_info; the history deploys it a day ago.
VERSION = "1.5.0"
#: Latency histogram buckets (seconds); the history writes the same ``le`` values.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Requests per second at the daily peak, all routes together (WebSocket sessions aside).
PEAK_RPS = 2.0
#: WebSocket-like sessions open at the daily peak.
PEAK_SESSIONS = 6
#: Share of item lookups answered from Redis in the history (measured on the live API).
HIT_RATIO = 0.85
#: Requests slower than this are logged as warnings ("slow request").
SLOW_MS = 1000.0
WS_ROUTE = "/api/ws"


@dataclass(frozen=True)
class Route:
    """One API route: its share of the traffic, latency and how it fails."""

    method: str
    route: str  # the ``route`` label: the pattern, not the concrete path
    share: float
    median: float  # seconds
    spread: float  # sigma of the log-normal latency
    ok: str
    fail: str
    fail_ratio: float
    incident_fail_ratio: float  # during the history's incident


ROUTES = (
    Route("GET", "/api/items/:id", 0.55, 0.012, 0.6, "200", "500", 0.004, 0.25),
    Route("POST", "/api/tasks", 0.15, 0.045, 0.5, "201", "500", 0.03, 0.35),
    Route("POST", "/api/auth/login", 0.15, 0.08, 0.4, "200", "401", 0.06, 0.06),
    Route("GET", "/api/search", 0.15, 0.15, 0.9, "200", "500", 0.015, 0.3),
)
ROUTES_BY_NAME = {r.route: r for r in ROUTES}


def daily_shape(t):
    """Traffic multiplier in (0, 1] at epoch seconds ``t`` (a float or a numpy array)."""
    hours = (np.asarray(t, dtype=float) % 86_400) / 3_600
    day = 0.35 + 0.65 * (0.5 - 0.5 * np.cos(2 * np.pi * (hours - 3) / 24))
    weekday = (np.asarray(t, dtype=float) // 86_400 + 3) % 7  # 1970-01-01 was a Thursday
    return day * np.where(weekday >= 5, 0.7, 1.0)


def latency_scale(shape):
    """How much slower requests get under load (1 when idle)."""
    return 1 + 0.3 * shape


def lognormal_mean(median: float, spread: float) -> float:
    """Mean of a log-normal latency with this median and sigma."""
    return median * math.exp(spread * spread / 2)


# ---------------------------------------------------------------- JSON log lines


def rfc3339(t: float) -> str:
    """``2024-05-01T12:00:00.123456Z``: RFC 3339, UTC, microseconds."""
    stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


class JsonLog:
    """Appends one JSON object per line; past ``max_bytes`` the file moves to ``<name>.1``."""

    def __init__(self, path: Path | str, *, now: Callable[[], float] = time.time,
                 max_bytes: int = 50_000_000):
        self.path, self.now, self.max_bytes = Path(path), now, max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held open)
        self._size = self.path.stat().st_size

    def write(self, level: str, logger: str, message: str, **fields) -> None:
        """Write one record: timestamp, level, logger, message, then ``fields``."""
        record = {"timestamp": rfc3339(self.now()), "level": level, "logger": logger,
                  "message": message, **fields}
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._size + len(line) > self.max_bytes:
                self._rotate()
            self._file.write(line)
            self._file.flush()
            self._size += len(line)

    def _rotate(self) -> None:
        # Promtail follows a renamed file to its end, then picks up the new one.
        self._file.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()


# ---------------------------------------------------------------- Redis, spoken directly


class RedisError(Exception):
    """Redis answered with an error, or could not be reached."""


class Redis:
    """A minimal RESP client for GET/SET/PING: one connection per thread, reconnects."""

    def __init__(self, host: str, port: int, timeout: float = 1.0):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    def command(self, *args: str | int) -> bytes | int | str | list | None:
        """Send one command and return its reply; RedisError when that fails."""
        try:
            conn = self._connection()
            conn[0].sendall(encode_command(args))
            return read_reply(conn[1])
        except (OSError, EOFError) as exc:
            self._drop()
            raise RedisError(f"{self.host}:{self.port}: {exc}") from exc

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            conn = self._local.conn = (sock, sock.makefile("rb"))
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn:
            conn[1].close()
            conn[0].close()


def encode_command(args) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_reply(stream):
    """Read one RESP reply from a binary file object."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError("connection closed by Redis")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise RedisError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2]
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [read_reply(stream) for _ in range(size)]
    raise RedisError(f"unexpected reply {line!r}")


# ---------------------------------------------------------------- metrics


class Metrics:
    """The API's Prometheus metrics, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter("http_requests", "HTTP requests handled.",
                                ["method", "route", "status"], registry=reg)
        self.duration = Histogram("http_request_duration_seconds", "Time to answer a request.",
                                  ["route"], buckets=BUCKETS, registry=reg)
        #: the same latencies as a native histogram, served as protobuf on /metrics/native
        self.native = NativeHistogram("http_request_duration_seconds",
                                      "Time to answer a request.", ["route"])
        self.active = Gauge("http_active_connections", "Requests and sessions open now.",
                            registry=reg)
        self.cache_hits = Counter("cache_hits", "Item lookups answered by Redis.", registry=reg)
        self.cache_misses = Counter("cache_misses", "Item lookups Redis did not have.",
                                    registry=reg)
        build = Gauge("app_build_info", "The running version (always 1).", ["version"],
                      registry=reg)
        build.labels(VERSION).set(1)
        ProcessCollector(registry=reg)


# ---------------------------------------------------------------- the API


@dataclass
class Reply:
    """What a route handler decided: status, JSON body, and optional extra log line."""

    status: int
    body: dict
    event: tuple[str, str, str] | None = None  # (level, logger, message)


class DemoAPI:
    """Routes requests, records metrics, writes a JSON log line per request."""

    def __init__(self, redis: Redis, log: JsonLog, metrics: Metrics | None = None, *,
                 rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time, routes: dict[str, Route] | None = None):
        self.redis, self.log, self.metrics = redis, log, metrics or Metrics()
        self.rng, self.sleep, self.now = rng or random.Random(), sleep, now
        self.routes = routes or ROUTES_BY_NAME

    def health(self) -> tuple[int, dict]:
        """200 when Redis answers PING, else 503 naming why."""
        try:
            self.redis.command("PING")
        except RedisError as exc:
            return 503, {"status": "unavailable", "redis": str(exc)}
        return 200, {"status": "ok", "version": VERSION}

    def handle(self, method: str, target: str, headers, body: bytes) -> tuple[int, dict, dict]:
        """Answer one /api/ request: (status, JSON body, response headers)."""
        path, _, query = target.partition("?")
        route, handler = self._route(method, path)
        ids = request_ids(headers)
        self.metrics.active.inc()
        started = time.perf_counter()
        try:
            reply = handler(path, parse_qs(query), body, ids)
        finally:
            self.metrics.active.dec()
        elapsed = time.perf_counter() - started
        self._record(method, route, reply, elapsed, ids)
        return reply.status, reply.body, {"X-Request-ID": ids["request_id"]}

    def _route(self, method: str, path: str):
        table = {("GET", "/api/items/"): ("/api/items/:id", self.get_item),
                 ("POST", "/api/tasks"): ("/api/tasks", self.create_task),
                 ("POST", "/api/auth/login"): ("/api/auth/login", self.login),
                 ("GET", "/api/search"): ("/api/search", self.search),
                 ("GET", WS_ROUTE): (WS_ROUTE, self.session)}
        for (m, prefix), found in table.items():
            if method == m and (path == prefix or (prefix.endswith("/") and
                                                   path.startswith(prefix))):
                return found
        return "unmatched", lambda *_: Reply(404, {"error": f"no route for {method} {path}"})

    def _record(self, method, route, reply: Reply, elapsed: float, ids: dict) -> None:
        self.metrics.requests.labels(method, route, str(reply.status)).inc()
        if route in self.routes:  # long-lived sessions would swamp the latency buckets
            # The exemplar names the request as its log lines do, so Logs can find them.
            self.metrics.duration.labels(route).observe(elapsed, exemplar=exemplar_labels(ids))
            self.metrics.native.observe(elapsed, route)
        if reply.event:
            self.log.write(*reply.event, **ids, route=route, status_code=reply.status)
        ms = round(elapsed * 1000, 3)
        slow = ms > SLOW_MS and route != WS_ROUTE  # sessions are long on purpose
        level = ("error" if reply.status >= 500 else
                 "warn" if reply.status >= 400 or slow else "info")
        self.log.write(level, "api.http", f"{method} {route} {reply.status} in {ms:.0f} ms"
                       + (" (slow request)" if slow else ""),
                       **ids, method=method, route=route, status_code=reply.status,
                       duration_ms=ms)

    def _work(self, route: str) -> None:
        r = self.routes[route]
        scale = latency_scale(float(daily_shape(self.now())))
        self.sleep(r.median * scale * math.exp(self.rng.gauss(0, r.spread)))

    def _fails(self, route: str) -> bool:
        return self.rng.random() < self.routes[route].fail_ratio

    # --- routes ----------------------------------------------------------------------------

    def get_item(self, path, query, body, ids) -> Reply:
        """GET /api/items/<id>: Redis first, else the (simulated) database, then cache it."""
        item = path.rsplit("/", 1)[-1]
        if not item.isdigit():
            return Reply(404, {"error": f"no item {item!r}"})
        try:
            cached = self.redis.command("GET", f"item:{item}")
        except RedisError as exc:
            return Reply(503, {"error": "cache unavailable"},
                         ("error", "api.cache", f"Redis unavailable: {exc}"))
        if cached is not None:
            self.metrics.cache_hits.inc()
            return Reply(200, json.loads(cached))
        self.metrics.cache_misses.inc()
        self._work("/api/items/:id")
        if self._fails("/api/items/:id"):
            return Reply(500, {"error": "database error"},
                         ("error", "api.items", f"loading item {item} failed: database error"))
        value = {"id": item, "name": f"item {item}", "price": int(item) % 97 + 0.99}
        try:
            self.redis.command("SET", f"item:{item}", json.dumps(value), "EX", 120)
        except RedisError as exc:
            self.log.write("warn", "api.cache", f"could not cache item {item}: {exc}", **ids)
        return Reply(200, value)

    def create_task(self, path, query, body, ids) -> Reply:
        """POST /api/tasks: sometimes the (simulated) database times out."""
        self._work("/api/tasks")
        if self._fails("/api/tasks"):
            return Reply(500, {"error": "task creation failed"},
                         ("error", "api.tasks", "task creation failed: database timeout after 2 s"))
        return Reply(201, {"id": uuid.uuid4().hex[:12], "status": "queued"},
                     ("info", "api.tasks", "task created"))

    def login(self, path, query, body, ids) -> Reply:
        """POST /api/auth/login: the password is "demo"."""
        self._work("/api/auth/login")
        try:
            password = json.loads(body or b"{}").get("password")
        except (ValueError, AttributeError):
            password = None
        if password != "demo":
            return Reply(401, {"error": "unauthorized"},
                         ("warn", "api.auth", f"authentication failed for {ids['user_id']}: "
                          "invalid password (401 unauthorized)"))
        return Reply(200, {"token": uuid.uuid4().hex})

    def search(self, path, query, body, ids) -> Reply:
        """GET /api/search?q=: slow-ish, with a long tail."""
        self._work("/api/search")
        if self._fails("/api/search"):
            return Reply(500, {"error": "search backend timeout"},
                         ("error", "api.search", "search backend timed out"))
        words = query.get("q", [""])[0]
        return Reply(200, {"query": words, "hits": self.rng.randint(0, 40)})

    def session(self, path, query, body, ids) -> Reply:
        """GET /api/ws?hold=S: stands in for a WebSocket, held open for S seconds (≤ 30)."""
        try:
            hold = min(max(float(query.get("hold", ["5"])[0]), 0.0), 30.0)
        except ValueError:
            hold = 5.0
        dropped = self.rng.random() < 0.1
        self.sleep(hold * self.rng.uniform(0.2, 0.9) if dropped else hold)
        if dropped:
            return Reply(200, {"closed": 1006}, ("warn", "api.ws",
                                                 "WebSocket disconnected (close code 1006)"))
        return Reply(200, {"closed": 1000},
                     ("info", "api.ws", "WebSocket closed (close code 1000)"))


def exemplar_labels(ids: dict) -> dict[str, str]:
    """request_id and trace_id for an exemplar: OpenMetrics allows 128 characters in all, so a
    long X-Request-ID a client sent is cut (its log lines keep it whole)."""
    return {"request_id": ids["request_id"][:64], "trace_id": ids["trace_id"][:32]}


def request_ids(headers) -> dict:
    """request_id, user_id, trace_id and span_id: from the headers when sent, else new."""
    trace = (headers.get("traceparent") or "").split("-")
    trace_id = trace[1] if len(trace) == 4 and len(trace[1]) == 32 else uuid.uuid4().hex
    return {"request_id": headers.get("X-Request-ID") or uuid.uuid4().hex,
            "user_id": headers.get("X-User-ID") or "anonymous",
            "trace_id": trace_id, "span_id": uuid.uuid4().hex[:16]}


#: where the native latency histogram is served (protobuf: Prometheus 2.42 reads no other form)
NATIVE_PATH = "/metrics/native"


def metrics_body(metrics: Metrics, accept: str) -> tuple[bytes, str]:
    """The registry as OpenMetrics (with exemplars) when the scraper takes it, else text."""
    if "application/openmetrics-text" in accept:
        return (openmetrics_exposition.generate_latest(metrics.registry),
                openmetrics_exposition.CONTENT_TYPE_LATEST)
    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST


def make_handler(api: DemoAPI) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``api``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "stackscope-demo-api"

        def do_GET(self):
            self._answer()

        def do_POST(self):
            self._answer()

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, *metrics_body(api.metrics, self.headers.get("Accept", "")))
                return
            if path == NATIVE_PATH:
                self._send(200, api.metrics.native.family(), PROTOBUF_TYPE)
                return
            if path == "/health":
                status, payload = api.health()
                self._send(status, json.dumps(payload).encode(), "application/json")
                return
            status, payload, headers = api.handle(self.command, self.path, self.headers, body)
            self._send(status, json.dumps(payload).encode(), "application/json", headers)

        def _send(self, status, data: bytes, content_type: str, headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # every request gets a JSON line from DemoAPI instead

    return Handler


def serve(api: DemoAPI, host: str, port: int) -> ThreadingHTTPServer:
    """A bound, not yet serving, threaded HTTP server for ``api``."""
    server = ThreadingHTTPServer((host, port), make_handler(api))
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------- its own traffic


class Traffic:
    """Background callers: requests at PEAK_RPS × daily shape, plus long-lived sessions."""

    def __init__(self, base_url: str, *, rng: random.Random | None = None,
                 now: Callable[[], float] = time.time, workers: int = 3):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.rng, self.now, self.workers = rng or random.Random(), now, workers
        self.stop_event = threading.Event()

    def start(self) -> Traffic:
        """Start the caller threads (daemons: they end with the process)."""
        for _ in range(self.workers):
            threading.Thread(target=self._requests, daemon=True).start()
        for i in range(PEAK_SESSIONS):
            threading.Thread(target=self._sessions, args=(i,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def _requests(self) -> None:
        while not self.stop_event.is_set():
            rate = PEAK_RPS * float(daily_shape(self.now())) / self.workers
            if self.stop_event.wait(self.rng.expovariate(rate)):
                return
            self.call(*self.pick())

    def _sessions(self, index: int) -> None:
        while not self.stop_event.is_set():
            if index < round(PEAK_SESSIONS * float(daily_shape(self.now()))):
                self.call("GET", f"{WS_ROUTE}?hold={self.rng.uniform(5, 20):.1f}")
            elif self.stop_event.wait(10):
                return

    def pick(self) -> tuple[str, str, dict | None]:
        """A random request: (method, path, JSON body)."""
        route = self.rng.choices(ROUTES, weights=[r.share for r in ROUTES])[0]
        if route.route == "/api/items/:id":
            # A long-tailed popularity: a few items are asked for all the time.
            return "GET", f"/api/items/{min(int(self.rng.paretovariate(0.9)), 5000)}", None
        if route.route == "/api/tasks":
            return "POST", "/api/tasks", {"title": "demo task"}
        if route.route == "/api/auth/login":
            wrong = self.rng.random() < route.fail_ratio
            return "POST", "/api/auth/login", {"password": "wrong" if wrong else "demo"}
        return "GET", f"/api/search?q={self.rng.choice(['disk', 'cpu', 'error', 'deploy'])}", None

    def call(self, method: str, path: str, body: dict | None = None) -> int | None:
        """Make one request; the status, or None when the API could not be reached."""
        headers = {"X-User-ID": f"user-{self.rng.randint(1, 200)}",
                   "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=40)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except OSError:
            self.stop_event.wait(1)  # NGINX may still be starting: try again shortly
            return None
        finally:
            conn.close()


# ---------------------------------------------------------------- command line


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of ``python -m stack.demo_api``."""
    parser = argparse.ArgumentParser(prog="python -m stack.demo_api",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", default="127.0.0.1:6379", help="host:port of Redis")
    parser.add_argument("--log-file", default=".stack/logs/api.log")
    parser.add_argument("--traffic-url", default="",
                        help="where the background traffic goes (default: this API itself); "
                             "'off' for none")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Serve the demo API until killed."""
    import prometheus_client

    args = parse_args(argv)
    prometheus_client.disable_created_metrics()  # fewer series, same as most exporters
    host, _, port = args.redis.rpartition(":")
    api = DemoAPI(Redis(host, int(port)), JsonLog(args.log_file))
    server = serve(api, args.host, args.port)
    if args.traffic_url != "off":
        Traffic(args.traffic_url or f"http://{args.host}:{args.port}").start()
    api.log.write("info", "api.main", f"demo API {VERSION} listening on {args.host}:{args.port}",
                  request_id="", user_id="", trace_id="", span_id="")
    server.serve_forever()


if __name__ == "__main__":
    main()

"""The demo's log history: the week of ``stack.history`` told as the demo API's and NGINX's lines.

``entries(week)`` is pure. It re-draws the metrics history (``history.api_families`` with the
same times and seed), so every count agrees with what Prometheus holds: per 30 s step and
route, the failed requests, the latency histogram's buckets, the WebSocket sessions closed.
Each request gets a latency inside its histogram bucket, and the step's failures go to random
requests of that step. Then the sampling rule keeps the week small:

- every failed request (5xx, 401) and every slow one (over ``demo_api.SLOW_MS``) is logged,
  so their per-minute counts equal the metrics' increase;
- of the other requests, one in ``1 / keep_ordinary`` (default 1 in 50) is logged, and one
  WebSocket session in ``1 / keep_sessions`` (1 in 50), dropped or not.

A logged request writes what the live API writes for it (an event line such as "task
creation failed: …" when the route has one, then the ``api.http`` line, same JSON fields and
order) and NGINX's JSON access line. Deploys (``Story.deploys``) write ``api.main`` lines.
Dropped sessions are 10 % of those closed, 40 % during the incident.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from stack import history
from stack.demo_api import BUCKETS, ROUTES, SLOW_MS, WS_ROUTE

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DROPPED, INCIDENT_DROPPED = 0.10, 0.40
KEEP_ORDINARY = 0.02
KEEP_SESSIONS = 0.02
#: What each route's event line says (level, logger, message), on success and on failure.
EVENTS = {
    "/api/items/:id": (None, ("error", "api.items", "loading item {item} failed: database error")),
    "/api/tasks": (("info", "api.tasks", "task created"),
                   ("error", "api.tasks", "task creation failed: database timeout after 2 s")),
    "/api/auth/login": (None, ("warn", "api.auth", "authentication failed for {user}: invalid "
                               "password (401 unauthorized)")),
    "/api/search": (None, ("error", "api.search", "search backend timed out")),
}


@dataclass(frozen=True)
class Week:
    """Which history to tell: the metrics history's times and where the lines would live."""

    start: float
    end: float
    resolution: int
    api_address: str
    api_file: str
    nginx_file: str
    seed: int = 5

    @property
    def times(self) -> np.ndarray:
        """The metrics history's sample times (``history.timeline``)."""
        return np.arange(int(self.start), int(self.end) + 1, self.resolution, dtype=np.int64)


@dataclass
class Requests:
    """One route's requests of the week, one element each."""

    route: object
    step: np.ndarray      # index into the timeline
    latency: np.ndarray   # seconds
    failed: np.ndarray    # bool


def entries(week: Week, keep_ordinary: float = KEEP_ORDINARY,
            keep_sessions: float = KEEP_SESSIONS) -> list[tuple]:
    """``(ts_ns, labels, line)`` of the week's logged requests and deploys, oldest first."""
    t = week.times
    plot = history.story(float(t[-1]))
    families = history.api_families(t, plot, history.Targets(api=week.api_address, node=""),
                                    np.random.default_rng(week.seed))
    requests, latency = families[0], families[1]
    rng = np.random.default_rng(week.seed + 1)
    writer = Writer(week, random.Random(week.seed))
    for route in ROUTES:
        drawn = route_requests(route, requests, latency, rng)
        keep = drawn.failed | (drawn.latency * 1000 > SLOW_MS) | (
            rng.random(drawn.step.size) < keep_ordinary)
        for i in np.flatnonzero(keep):
            writer.request(route, t[drawn.step[i]], float(drawn.latency[i]), bool(drawn.failed[i]))
    sessions(writer, t, plot, requests, rng, keep_sessions)
    for when, version, previous in deploys(plot, t):
        writer.deploy(when, version, previous)
    return sorted(writer.out, key=lambda e: e[0])


def increments(series) -> np.ndarray:
    """Per-step increase of a cumulative series."""
    return np.diff(series.values, prepend=0.0).round().astype(np.int64)


def route_requests(route, requests, latency, rng) -> Requests:
    """The route's requests with a latency from their bucket and the step's failures."""
    def one(name, **labels):
        return next(s for s in name.series if labels.items() <= s.labels.items())

    fails = increments(one(requests, route=route.route, status=route.fail))
    cumulative = [increments(one(latency, route=route.route, le=le)) for le in
                  [*(history.floatToGoString(b) for b in BUCKETS), "+Inf"]]
    per_bucket = np.diff(np.stack(cumulative, axis=1), axis=1, prepend=0)
    flat = np.repeat(np.arange(per_bucket.size), per_bucket.ravel())
    step, bucket = flat // per_bucket.shape[1], flat % per_bucket.shape[1]
    lower = np.array([0.0, *BUCKETS])
    upper = np.array([*BUCKETS, BUCKETS[-1] * 3])
    seconds = lower[bucket] + (upper[bucket] - lower[bucket]) * rng.random(step.size)
    order = np.lexsort((rng.random(step.size), step))
    step, seconds = step[order], seconds[order]
    first = np.searchsorted(step, np.arange(len(fails)))
    rank = np.arange(step.size) - first[step]
    return Requests(route, step, seconds, rank < fails[step])


def sessions(writer, t, plot, requests, rng, keep: float) -> None:
    """WebSocket sessions, one in ``1 / keep`` of those closed; dropped or closed normally."""
    closed = increments(next(s for s in requests.series if s.labels["route"] == WS_ROUTE))
    kept = rng.binomial(closed, keep)
    ratio = np.where(history.in_window(t, plot.incident), INCIDENT_DROPPED, DROPPED)
    dropped = rng.binomial(kept, ratio)
    for i in np.flatnonzero(kept):
        for drop in [True] * int(dropped[i]) + [False] * int(kept[i] - dropped[i]):
            hold = writer.rng.uniform(5, 20) * (writer.rng.uniform(0.2, 0.9) if drop else 1.0)
            writer.session(t[i], hold, drop)


def deploys(plot, t) -> list[tuple[float, str, str]]:
    """(time, version, previous version) of each deploy inside the timeline."""
    out = []
    for (_, previous), (when, version) in zip(plot.deploys, plot.deploys[1:], strict=False):
        if t[0] <= when <= t[-1]:
            out.append((when, version, previous))
    return out


class Writer:
    """Turns requests into the live API's JSON lines and NGINX's access lines."""

    def __init__(self, week: Week, rng):
        self.week, self.rng, self.out = week, rng, []
        self.api = {"job": "api", "service": "demo-api", "filename": week.api_file}
        self.nginx = {"job": "nginx", "service": "nginx", "filename": week.nginx_file}

    def ids(self) -> dict:
        bits = self.rng.getrandbits
        return {"request_id": f"{bits(128):032x}", "user_id": f"user-{self.rng.randint(1, 200)}",
                "trace_id": f"{bits(128):032x}", "span_id": f"{bits(64):016x}"}

    def request(self, route, step_end: float, seconds: float, failed: bool) -> None:
        """One request that ended in the 30 s before ``step_end``."""
        end_us = int((float(step_end) - self.week.resolution * self.rng.random()) * 1e6)
        ids = self.ids()
        status = int(route.fail if failed else route.ok)
        event = EVENTS[route.route][failed]
        item = min(int(self.rng.paretovariate(0.9)), 5000)
        if event:
            level, logger, text = event
            self.api_line(end_us - 1, level, logger, text.format(item=item, user=ids["user_id"]),
                          {**ids, "route": route.route, "status_code": status})
        words = ("disk", "cpu", "error", "deploy")
        path = {"/api/items/:id": f"/api/items/{item}",
                "/api/search": f"/api/search?q={self.rng.choice(words)}"}
        self.http(end_us, route.method, route.route, path.get(route.route, route.route), status,
                  seconds, ids)

    def session(self, step_end: float, hold: float, dropped: bool) -> None:
        """One WebSocket-like session that closed in the 30 s before ``step_end``."""
        end_us = int((float(step_end) - self.week.resolution * self.rng.random()) * 1e6)
        ids = self.ids()
        text = ("WebSocket disconnected (close code 1006)" if dropped else
                "WebSocket closed (close code 1000)")
        self.api_line(end_us - 1, "warn" if dropped else "info", "api.ws", text,
                      {**ids, "route": WS_ROUTE, "status_code": 200})
        self.http(end_us, "GET", WS_ROUTE, f"{WS_ROUTE}?hold={hold:.1f}", 200, hold, ids)

    def deploy(self, when: float, version: str, previous: str) -> None:
        us = int(when * 1e6)
        blank = {"request_id": "", "user_id": "", "trace_id": "", "span_id": ""}
        self.api_line(us, "info", "api.main", f"deploying {version} (replacing {previous})", blank)
        self.api_line(us + 2_000_000, "info", "api.main",
                      f"demo API {version} listening on {self.week.api_address}", blank)

    def http(self, end_us, method, route, path, status, seconds, ids) -> None:
        """The api.http line (as DemoAPI._record writes it) and NGINX's line."""
        ms = round(seconds * 1000, 3)
        slow = ms > SLOW_MS and route != WS_ROUTE
        level = "error" if status >= 500 else "warn" if status >= 400 or slow else "info"
        text = f"{method} {route} {status} in {ms:.0f} ms" + (" (slow request)" if slow else "")
        self.api_line(end_us, level, "api.http", text, {**ids, "method": method, "route": route,
                                                        "status_code": status, "duration_ms": ms})
        self.out.append((end_us * 1000 + 700_000, {**self.nginx, "level": status_level(status)},
                         nginx_line(end_us + 700, method, path, status, seconds, ids)))

    def api_line(self, us: int, level: str, logger: str, message: str, fields: dict) -> None:
        record = {"timestamp": stamp(us), "level": level, "logger": logger, "message": message,
                  **fields}
        self.out.append((us * 1000, {**self.api, "level": level},
                         orjson.dumps(record).decode()))


def stamp(us: int) -> str:
    """RFC 3339 with microseconds, as ``demo_api.rfc3339`` writes it (exact, no float)."""
    return (EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def status_level(status: int) -> str:
    """An NGINX line's level: 5xx error, 4xx warn, else info."""
    return "error" if status >= 500 else "warn" if status >= 400 else "info"


def nginx_line(us: int, method: str, path: str, status: int, seconds: float, ids: dict) -> str:
    """An access line in the demo NGINX's JSON format (``services.NGINX_LOG_FORMAT``)."""
    when = (EPOCH + timedelta(microseconds=us)).replace(microsecond=0)
    size = 20 + (us % 180)
    return orjson.dumps({
        "time": when.isoformat(), "msec": f"{us / 1e6:.3f}", "remote_addr": "127.0.0.1",
        "message": f"{method} {path} {status}", "method": method, "uri": path,
        "status_code": status, "body_bytes_sent": size,
        "request_time": f"{seconds:.3f}", "upstream_response_time": f"{seconds:.3f}",
        "request_id": ids["request_id"], "user_agent": ""}).decode()

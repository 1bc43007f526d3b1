"""stackscope's own metrics, served on ``/metrics`` in Prometheus' text format.

The metric objects live here so the modules that count (``datasources.http``, ``.cache``,
``.status``, the export job) add one line each. Names start ``stackscope_``; every label has a
bounded set of values the server chooses (an upstream's name, an outcome, a callback the app
registered), never text a browser sent.

Several processes: gunicorn's workers and the local export manager's job processes each count
on their own. With ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is first
imported (``python app.py`` and gunicorn.conf.py put it under ``cache.dir``:
``telemetry_dir.use``), every process writes its samples there and a scrape of any worker
adds them up. Without it (an app built in a test) the numbers are this process's.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import threading
import time
import types
from collections.abc import Callable

# prometheus_client picks its value store when first imported: the multi-process directory
# must be in the environment by then (telemetry_dir.use, called before the app is built).
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

import access
from telemetry_dir import MULTIPROC_ENV

ROUTE = "/metrics"

#: callback latencies: a Dash round trip is 5 ms to tens of seconds (a slow upstream)
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CALLBACK_SECONDS = Histogram(
    "stackscope_callback_duration_seconds",
    "Time the server took to answer one Dash callback request, by callback output",
    ["callback"], buckets=_LATENCY)
UPSTREAM_REQUESTS = Counter(
    "stackscope_upstream_requests",
    "HTTP requests to Prometheus, Loki and Alertmanager, by outcome and status class",
    ["upstream", "outcome", "status_class"])
CACHE_HITS = Counter("stackscope_cache_hits", "Answers served fresh from the cache",
                     ["upstream"])
CACHE_MISSES = Counter("stackscope_cache_misses", "Calls that went to the upstream",
                       ["upstream"])
CACHE_STALE = Counter("stackscope_cache_stale_served",
                      "Last good values served (stale) because the upstream failed",
                      ["upstream"])
CACHE_WAITS = Counter("stackscope_cache_single_flight_waits",
                      "Calls that waited for an identical call already in flight",
                      ["upstream"])
PROBE_ROUND_SECONDS = Histogram(
    "stackscope_probe_round_duration_seconds", "Time one probe round of every service took",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EXPORTS = Counter("stackscope_exports", "Whole-range log exports, by how they ended",
                  ["outcome"])
EXPORT_ROWS = Counter("stackscope_export_rows", "Log lines written by finished exports")


def upstream_request(upstream: str, outcome: str, status: int | None) -> None:
    """Count one upstream request: outcome ``ok`` or the error's kind, status ``2xx``…"""
    status_class = f"{status // 100}xx" if status else "none"
    UPSTREAM_REQUESTS.labels(upstream, outcome, status_class).inc()


@contextlib.contextmanager
def upstream_call(upstream: str):
    """Count the request made inside: ``ok`` with the status set on the yielded holder, or
    the error's kind (``unreachable``, ``query_error``, ``bad_response``) and its status."""
    call = types.SimpleNamespace(status=None)
    try:
        yield call
    except Exception as exc:
        kind = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        upstream_request(upstream, kind, getattr(exc, "status", None) or call.status)
        raise
    upstream_request(upstream, "ok", call.status)


def export_finished(outcome: str, rows: int = 0) -> None:
    """Count one export: ``done`` (with its rows), ``failed`` or ``refused``."""
    EXPORTS.labels(outcome).inc()
    if rows:
        EXPORT_ROWS.inc(rows)


# --- who is looking: distinct sessions seen lately ----------------------------------------

class SessionsSeen:
    """Distinct browser sessions seen in the last ``window`` seconds, across processes.

    Each process writes a session's "last seen" to a small diskcache in the cache directory
    at most once a ``refresh`` seconds, so a busy page costs no write per request.
    """

    def __init__(self, directory: str | os.PathLike, *, window: float = 300,
                 refresh: float = 30, now: Callable[[], float] = time.time):
        import diskcache

        self.store = diskcache.Cache(str(directory))
        self.window, self.refresh, self.now = window, refresh, now
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, session: str) -> None:
        """Note ``session`` (cheap when it was noted within ``refresh`` seconds)."""
        now = self.now()
        with self._lock:
            if now - self._written.get(session, -self.refresh) < self.refresh:
                return
            if len(self._written) > 10_000:  # forget old ones: the store has them
                self._written.clear()
            self._written[session] = now
        self.store.set(session, now, expire=self.window)

    def count(self) -> int:
        """Sessions seen within the window."""
        self.store.expire()
        return len(self.store)


class _SessionsCollector:
    def __init__(self, sessions: SessionsSeen):
        self.sessions = sessions

    def collect(self):
        gauge = GaugeMetricFamily(
            "stackscope_active_sessions",
            f"Distinct browser sessions seen in the last {self.sessions.window:g} seconds")
        gauge.add_metric([], self.sessions.count())
        yield gauge


class _ThisProcess:
    """The default registry's samples (this process's), readable from another registry."""

    def collect(self):
        from prometheus_client import REGISTRY

        yield from REGISTRY.collect()


def registry(sessions: SessionsSeen | None = None) -> CollectorRegistry:
    """What a scrape reads: every process's samples (multi-process mode) or this one's."""
    from prometheus_client import multiprocess

    found = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(found)
    else:
        found.register(_ThisProcess())
    if sessions is not None:
        found.register(_SessionsCollector(sessions))
    return found


def exposition(sessions: SessionsSeen | None = None) -> tuple[bytes, str]:
    """(body, content type) of one scrape."""
    return generate_latest(registry(sessions)), CONTENT_TYPE_LATEST


# --- who may scrape -----------------------------------------------------------------------

def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant
    time); False when no token is configured."""
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def may_scrape(header: str | None, token: str, signed_in: bool) -> bool:
    """``/metrics`` access: with ``server.metrics_token`` set, that token or a signed-in
    dashboard user; without one, whoever may reach the dashboard.

    The login middleware (``auth``) must let a request through to this route when
    ``bearer_matches`` holds, so a scraper needs no dashboard account.
    """
    return not token or signed_in or bearer_matches(header, token)


# --- the Flask side: timing callbacks, noting sessions, the route -------------------------

def callback_name(body, known) -> str:
    """The callback a ``/_dash-update-component`` body asks for: its ``output`` (shortened)
    when the app registered it, else ``other`` (label values are the server's, not the
    browser's)."""
    output = body.get("output") if isinstance(body, dict) else None
    return short_name(output) if isinstance(output, str) and output in known else "other"


def short_name(output: str) -> str:
    """A callback's key, its first output for one of several (``..a.b...c.d..`` → ``a.b +1``):
    a legend stays readable and a scrape small (15 lines per callback in the histogram)."""
    if not output.startswith(".."):
        return output
    parts = output[2:-2].split("...")
    return parts[0] + (f" +{len(parts) - 1}" if len(parts) > 1 else "")


def install(server, *, token: str, sessions: SessionsSeen,
            known: Callable[[], object]) -> None:
    """Time every callback request, note sessions, and serve ``/metrics``.

    ``known()`` gives the registered callback outputs (Dash's ``callback_map``).
    """
    import flask

    from callbacks import session

    @server.before_request
    def start_timing():
        flask.g.stackscope_started = time.perf_counter()
        if flask.request.path.endswith("/_dash-update-component"):
            body = flask.request.get_json(silent=True)
            flask.g.stackscope_callback = callback_name(body, known())
        sid = session.current()
        if sid != session.ANONYMOUS:
            sessions.seen(sid)

    @server.after_request
    def stop_timing(response):
        name = flask.g.get("stackscope_callback")
        started = flask.g.get("stackscope_started")
        if name is not None and started is not None:
            CALLBACK_SECONDS.labels(name).observe(time.perf_counter() - started)
        return response

    def scrape():
        # signed_in: the auth middleware (auth.mode basic or proxy) put a user on flask.g.
        user = flask.g.get("stackscope_user")
        # A user who signed in (auth basic or proxy): not login's NOBODY, nor auth.mode
        # "none"'s anonymous admin, which a token set for scrapers must not let through.
        signed_in = (user is not None and user is not access.ANONYMOUS
                     and user.role in access.ROLES)
        if not may_scrape(flask.request.headers.get("Authorization"), token, signed_in):
            return ("a bearer token is needed (server.metrics_token)\n", 401,
                    {"WWW-Authenticate": 'Bearer realm="stackscope metrics"',
                     "Content-Type": "text/plain; charset=utf-8"})
        body, kind = exposition(sessions)
        return body, 200, {"Content-Type": kind, "Cache-Control": "no-store"}

    server.add_url_rule(ROUTE, "metrics", scrape)

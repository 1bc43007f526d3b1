"""The demo stack's action engine: a webhook that really restarts one of its servers.

    POST /restart  {"service": "api"}   Authorization: Bearer <token>

restarts the named server (by its supervisor key, "api", or its card's name, "Backend API")
through the stack's supervisor (``Supervisor.restart``: stopped,
started again, ready) and answers what it did as JSON: the old and new pid and how long it
took. An unknown service or a body that is not such JSON gets 400, a missing or wrong token
401, another path 404, another method 405. ``GET /health`` answers 200.

It runs as a thread of ``stack.run`` (where the supervisor is), on 127.0.0.1 only; the
dashboard's ``[[actions]]`` "Restart" calls it (see ``stack.run.dashboard_toml``).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: the largest request body read
MAX_BODY = 64 * 1024

#: restarts ``key``; returns (old pid, new pid), raises on failure
Restart = Callable[[str], tuple[int, int]]


class Engine(ThreadingHTTPServer):
    """The HTTP server; ``restart`` and ``services`` (name asked for -> supervisor key) say
    what it may do."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], restart: Restart, services: Mapping[str, str],
                 token: str = "", say: Callable[[str], None] = lambda line: None):
        super().__init__(address, Handler)
        self.restart, self.services = restart, dict(services)
        self.token, self.say = token, say

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: Engine
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass  # what matters is said through ``say``

    def do_GET(self):
        if self.path == "/health":
            return self._answer(200, {"status": "ok", "services": list(self.server.services)})
        return self._answer(404 if self.path != "/restart" else 405,
                            {"error": f"no GET {self.path} here (POST /restart)"})

    def do_POST(self):
        if self.path != "/restart":
            return self._answer(404, {"error": f"no {self.path} here (POST /restart)"})
        if not self._authorized():
            return self._answer(401, {"error": "missing or wrong bearer token"})
        try:
            wanted = self._service()
        except ValueError as exc:
            return self._answer(400, {"error": str(exc)})
        return self._answer(*restart(self.server, wanted, self.server.services[wanted]))

    def _not_allowed(self):
        self._answer(405, {"error": f"{self.command} not allowed (POST /restart)"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _authorized(self) -> bool:
        if not self.server.token:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode())

    def _service(self) -> str:
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            raise ValueError(f"body larger than {MAX_BODY} bytes")
        return service_from_body(self.rfile.read(size), self.server.services)

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # One request a connection: a body left unread (a refused request) cannot be taken
        # for the next request.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


def service_from_body(raw: bytes, known: Mapping[str, str]) -> str:
    """The ``service`` a restart body names; ValueError saying what is wrong with it."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ValueError('body must be JSON like {"service": "api"}') from None
    service = body.get("service") if isinstance(body, dict) else None
    if not isinstance(service, str):
        raise ValueError('body must be JSON like {"service": "api"}')
    if service not in known:
        raise ValueError(f"unknown service {service[:100]!r} (known: {', '.join(known)})")
    return service


def restart(engine: Engine, service: str, key: str,
            clock: Callable[[], float] = time.monotonic) -> tuple[int, dict]:
    """Restart ``service`` (supervisor key ``key``); (HTTP status, JSON body) saying what
    happened."""
    started = clock()
    engine.say(f"action engine: restarting {service}…")
    try:
        old, new = engine.restart(key)
    except Exception as exc:  # the answer must say it, whatever it was
        engine.say(f"action engine: restarting {service} failed: {exc}")
        return 500, {"service": service, "action": "restart", "error": str(exc)}
    took = round(clock() - started, 3)
    engine.say(f"action engine: {service} restarted (pid {old} -> {new}, {took} s)")
    return 200, {"service": service, "server": key, "action": "restart", "old_pid": old,
                 "pid": new,
                 "seconds": took, "ready": True}


def start(host: str, port: int, restart_: Restart, services: Mapping[str, str], *,
          token: str = "", say: Callable[[str], None] = lambda line: None) -> Engine:
    """Serve the engine on ``host:port`` in a daemon thread; ``shutdown()`` stops it."""
    engine = Engine((host, port), restart_, services, token, say)
    threading.Thread(target=engine.serve_forever, name="action-engine", daemon=True).start()
    return engine

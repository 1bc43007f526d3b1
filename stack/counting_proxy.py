"""A reverse proxy that counts what reaches an upstream: HTTP requests by path, TCP connections.

    python -m stack.counting_proxy --control PORT [--http NAME=PORT=URL ...]
                                   [--tcp NAME=PORT=HOST:PORT ...]

``--http`` listens on 127.0.0.1:PORT and forwards every request to URL (Prometheus,
Alertmanager), counting it by path; ``--tcp`` forwards whole connections to HOST:PORT (a probed
service: a probe is one connection, TCP or HTTP alike), counting them. ``GET /counts`` on the
control port answers ``{"http": {NAME: {PATH: n}}, "tcp": {NAME: n}}``, the totals since start.

The benches point the dashboard at it to count the upstream calls a load causes, where they
land (``bench/viewers.py``). Loopback only; its own process, so its work does not share the
load generator's interpreter. ``start_counting_proxy`` starts it through ``stack.services``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import selectors
import socket
import socketserver
import sys
import threading
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from stack import services

HOST = services.LOCALHOST
#: request and response headers a proxy must not pass on (RFC 9110 section 7.6.1)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade"}


class Counts:
    """Thread-safe totals: HTTP requests per (name, path), TCP connections per name."""

    def __init__(self):
        self._lock = threading.Lock()
        self.http: dict[str, Counter] = {}
        self.tcp: Counter = Counter()

    def request(self, name: str, path: str) -> None:
        with self._lock:
            self.http.setdefault(name, Counter())[path] += 1

    def connection(self, name: str) -> None:
        with self._lock:
            self.tcp[name] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"http": {n: dict(c) for n, c in self.http.items()}, "tcp": dict(self.tcp)}


def http_proxy(name: str, port: int, upstream: str, counts: Counts) -> ThreadingHTTPServer:
    """A server on ``port`` forwarding every request to ``upstream``, counted by path."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the dashboard's session expects

        def do_GET(self):
            self._forward()

        def do_POST(self):
            self._forward()

        def _forward(self):
            counts.request(name, urlsplit(self.path).path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as exc:
                self.send_error(502, f"counting proxy: {name} unreachable: {exc}")
                return
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                if key.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    return server


def tcp_proxy(name: str, port: int, upstream: tuple[str, int],
              counts: Counts) -> socketserver.ThreadingTCPServer:
    """A server on ``port`` joining each connection to one to ``upstream``, counted."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            counts.connection(name)
            try:
                far = socket.create_connection(upstream, timeout=10)
            except OSError:
                return  # closed at once, as near to "refused" as an accepted socket gets
            with far:
                pipe(self.request, far)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer((HOST, port), Handler)
    server.daemon_threads = True
    return server


def pipe(a: socket.socket, b: socket.socket, idle: float = 60.0) -> None:
    """Copy bytes both ways until either side closes (or nothing moves for ``idle`` s)."""
    with selectors.DefaultSelector() as sel:
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        while True:
            ready = sel.select(idle)
            if not ready:
                return
            for key, _ in ready:
                try:
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                except OSError:
                    return


def control(port: int, counts: Counts) -> ThreadingHTTPServer:
    """``GET /counts``: the totals as JSON."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(counts.snapshot()).encode()
            self.send_response(200 if self.path == "/counts" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer((HOST, port), Handler)


@dataclass(frozen=True)
class Route:
    """One proxied upstream: its name, the proxy's port and where it forwards to."""

    name: str
    port: int
    upstream: str  # http://host:port for "http", host:port for "tcp"
    kind: str = "http"

    @property
    def url(self) -> str:
        """What the dashboard is pointed at instead of the upstream."""
        return f"http://{HOST}:{self.port}"

    def arg(self) -> list[str]:
        return [f"--{self.kind}", f"{self.name}={self.port}={self.upstream}"]


def start_counting_proxy(directory: Path | str, routes: list[Route],
                         port: int | None = None) -> services.Proc:
    """Run the proxy for ``routes`` in its own process; ready once ``/counts`` answers."""
    port = port or services.free_port()
    args = [sys.executable, "-m", "stack.counting_proxy", "--control", str(port)]
    for route in routes:
        args += route.arg()
    return services.start_server("counting_proxy", args, directory, port=port,
                                 url=f"http://{HOST}:{port}", cwd=Path(__file__).parents[1],
                                 ready=services.http_ready("/counts"))


def read_counts(proxy: services.Proc) -> dict:
    """The proxy's totals since it started."""
    with urllib.request.urlopen(f"{proxy.url}/counts", timeout=10) as resp:
        return json.load(resp)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.counting_proxy",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--control", type=int, required=True, metavar="PORT")
    parser.add_argument("--http", action="append", default=[], metavar="NAME=PORT=URL")
    parser.add_argument("--tcp", action="append", default=[], metavar="NAME=PORT=HOST:PORT")
    args = parser.parse_args(argv)
    counts = Counts()
    servers = [http_proxy(n, int(p), u, counts)
               for n, p, u in (spec.split("=", 2) for spec in args.http)]
    for name, port, where in (spec.split("=", 2) for spec in args.tcp):
        host, far = where.rsplit(":", 1)
        servers.append(tcp_proxy(name, int(port), (host, int(far)), counts))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    control(args.control, counts).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

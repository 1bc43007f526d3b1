"""A real HTTP upstream answering recorded bodies by path, keeping every request it was sent.

``RecordingUpstream({"/api/v1/query_range": body})`` answers GET and POST (form fields are
read like query parameters, as Prometheus reads them) with the body routed to the path (a
function's answer may be ``(status, body)``, as a forwarding proxy passes one on), or a
404; ``requests`` lists ``{"method", "path", "params"}`` in arrival order, so a test can
assert what reached the upstream — how many requests and with which parameters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Answer = bytes | Callable[[dict], bytes]


class RecordingUpstream:
    """The server, started on a free 127.0.0.1 port; ``stop()`` when done."""

    def __init__(self, routes: Mapping[str, Answer], content_type: str = "application/json"):
        self.routes, self.content_type = dict(routes), content_type
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[dict]:
        """The requests sent to ``path``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer(urlsplit(self.path).query)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode() if length else ""
                self._answer("&".join(p for p in (urlsplit(self.path).query, form) if p))

            def _answer(self, raw: str):
                path = urlsplit(self.path).path
                params = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with server._lock:
                    server.requests.append({"method": self.command, "path": path,
                                            "params": params})
                answer = server.routes.get(path)
                body = answer(params) if callable(answer) else answer
                status, body = body if isinstance(body, tuple) else (200, body)
                status = status if body is not None else 404
                body = body if body is not None else b"404 page not found\n"
                self.send_response(status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

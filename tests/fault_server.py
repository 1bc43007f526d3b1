"""A small real HTTP server that misbehaves on purpose, for the fault tests.

The first path segment picks the fault, so a datasource whose URL is ``{server.url}/drip-body``
meets that fault on every call it makes (``/drip-body/api/v1/query`` …). A trailing ``-NNN``
on the segment sets the HTTP status where one is sent (``/echo-401``, ``/retry-after-503``):

    /ok                 ``status`` (200) with ``body``: a well-behaved answer
    /drip-body          200 and its headers at once, then the body one byte every ``interval`` s
    /drip-headers       the status line at once, then the headers one byte every ``interval`` s
    /huge               200 with a ``huge_mb`` MiB body, Content-Length announced
    /huge-chunked       the same body, chunked: no length known before it is read
    /redirect-away      302 to the same path under ``/ok`` on ``other`` (another host)
    /redirect-home      302 to the same path under ``/ok`` on this server
    /redirect-loop      302 to itself, for ever
    /retry-after        429 with ``Retry-After: {retry_after}``
    /echo               500 whose text body echoes the request line, headers and body, as some
                        proxies do
Anything else answers ``status`` with ``body``. ``seen`` lists every request, in order.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_MODE = re.compile(r"^/([a-z-]+?)(?:-(\d{3}))?(/.*|$)")


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: ``time.monotonic()`` when it arrived
    at: float


class FaultServer:
    """A threaded HTTP/1.1 server on ``host`` (127.0.0.1, or 127.0.0.2 as "another host")."""

    def __init__(self, host: str = "127.0.0.1", *, other: str | None = None,
                 interval: float = 0.2, huge_mb: int = 64):
        self.other, self.interval, self.huge_mb = other, interval, huge_mb
        self.body, self.status, self.content_type = b"{}", 200, "application/json"
        self.retry_after = "7"
        self.seen: list[Seen] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, mode: str = "") -> int:
        """Requests seen whose path starts with ``/{mode}``."""
        return sum(s.path.startswith("/" + mode) for s in self.seen)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out as two writes: without this, Nagle and the client's
                # delayed ACK add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.seen.append(Seen(self.command, self.path, dict(self.headers), body,
                                            time.monotonic()))
                found = _MODE.match(self.path)
                mode, status, rest = found.groups() if found else ("", None, self.path)
                answer = {"drip-body": self._drip_body, "drip-headers": self._drip_headers,
                          "huge": self._huge, "huge-chunked": self._huge_chunked,
                          "redirect-away": self._redirect_away,
                          "redirect-home": self._redirect_home,
                          "redirect-loop": self._redirect_loop,
                          "retry-after": self._retry_after, "echo": self._echo,
                          }.get(mode, self._canned)
                with contextlib.suppress(OSError):  # the client hung up, as a cut call does
                    answer(int(status) if status else None, rest, body)

            do_POST = do_GET

            def _send(self, status, body: bytes, headers=(), content_type=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type or server.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _canned(self, status, rest, body):
                self._send(status or server.status, server.body)

            def _drip(self, data: bytes):
                for i in range(len(data)):
                    if server.stopped.wait(server.interval):
                        return
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()

            def _drip_body(self, status, rest, body):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.flush()
                self._drip(b" " * 100000)

            def _drip_headers(self, status, rest, body):
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                self._drip(b"X-Slow: " + b"a" * 100000 + b"\r\n\r\n")

            def _huge(self, status, rest, body, chunked=False):
                size = server.huge_mb << 20
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(size))
                self.end_headers()
                block = b" " * (1 << 16)
                for _ in range(size // len(block)):
                    if server.stopped.is_set():
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def _huge_chunked(self, status, rest, body):
                self._huge(status, rest, body, chunked=True)

            def _redirect(self, status, location):
                self.send_response(status or 302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _redirect_away(self, status, rest, body):
                self._redirect(status, f"{server.other}/ok{rest}")

            def _redirect_home(self, status, rest, body):
                self._redirect(status, f"/ok{rest}")

            def _redirect_loop(self, status, rest, body):
                self._redirect(status, self.path)

            def _retry_after(self, status, rest, body):
                self._send(status or 429, b"slow down", [("Retry-After", server.retry_after)],
                           "text/plain")

            def _echo(self, status, rest, body):
                lines = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items())]
                text = "\n".join(lines).encode() + b"\n\n" + body
                self._send(status or 500, text, content_type="text/plain")

            def log_message(self, *args):
                pass

        return Handler

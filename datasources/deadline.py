"""A total deadline for one upstream call, whatever the server does.

Socket timeouts bound the wait *between* bytes: a server sending its headers or body one byte a
second never trips them (measured: urllib3's ``Timeout(total=2)`` against dripped headers was
still reading after 20 s). So each call gets a ``Deadline``; the connections it uses are attached
to it, and one watchdog thread shuts their sockets down when it passes. The blocked read then
returns at once, and the caller, seeing ``deadline.expired``, reports a timeout.

A connection is attached while the call holds it and detached before it goes back to a pool
(``DeadlinePoolMixin``), so the watchdog can never cut a connection another call is using.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time

from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: after its deadline, a call still running is checked again this often: a socket it opens
#: late (a connect that was in progress) is cut as soon as it appears
RECHECK = 0.05

_local = threading.local()


class Deadline:
    """``seconds`` from now, on a monotonic clock; a context manager watched by the watchdog."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._conns: list = []

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    def socket_timeout(self, per_read: float) -> tuple[float, float]:
        """(connect, read) timeouts for requests: no single wait may outlast the deadline."""
        left = max(self.remaining(), 0.001)
        return min(per_read, left), min(per_read, left)

    def attach(self, conn) -> None:
        """Watch ``conn`` (anything with a ``sock``) until it is detached or the call ends."""
        with _WATCHDOG.lock:
            conn._stackscope_deadline = self
            self._conns.append(conn)
            if self.expired:
                _cut(conn)

    def detach(self, conn) -> None:
        """Stop watching ``conn``: it is going back to a pool, for another call."""
        with _WATCHDOG.lock:
            if getattr(conn, "_stackscope_deadline", None) is self:
                conn._stackscope_deadline = None
            if conn in self._conns:
                self._conns.remove(conn)

    def __enter__(self) -> Deadline:
        self._outer = getattr(_local, "deadline", None)
        _local.deadline = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc) -> None:
        _local.deadline = self._outer
        with _WATCHDOG.lock:
            self.done = True
            for conn in self._conns:
                if getattr(conn, "_stackscope_deadline", None) is self:
                    conn._stackscope_deadline = None
            self._conns.clear()

    def _expire(self) -> None:
        # Called by the watchdog, holding its lock.
        self.expired = True
        for conn in self._conns:
            _cut(conn)


def current() -> Deadline | None:
    """The deadline of the call running on this thread, if any."""
    return getattr(_local, "deadline", None)


def _cut(conn) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    # socket.socket's own shutdown, not SSLSocket's: cut the TCP stream under TLS too.
    with contextlib.suppress(OSError, TypeError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread expiring deadlines in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self.lock:
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="upstream-deadlines",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            try:
                self._loop()
            except SystemExit:
                # dash.testing stops its server thread with an asynchronous SystemExit aimed at
                # a thread id; once that thread is gone the id can be ours. Keep watching.
                continue

    def _loop(self) -> None:
        with self.lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _, deadline = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
                deadline._expire()
                heapq.heappush(self._heap, (when + RECHECK, next(self._seq), deadline))


_WATCHDOG = _Watchdog()


def _fresh_watchdog() -> None:
    # A forked worker (a background export) inherits the lock perhaps held, never the thread.
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_fresh_watchdog)


class DeadlinePoolMixin:
    """A urllib3 pool attaching each connection to the running call's deadline while it is used."""

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout=timeout)
        deadline = current()
        if deadline is not None:
            deadline.attach(conn)
        return conn

    def _put_conn(self, conn):
        deadline = getattr(conn, "_stackscope_deadline", None) if conn is not None else None
        if deadline is not None:
            deadline.detach(conn)
        super()._put_conn(conn)


class DeadlineHTTPConnectionPool(DeadlinePoolMixin, HTTPConnectionPool):
    """``HTTPConnectionPool`` whose connections obey the call's ``Deadline``."""


class DeadlineHTTPSConnectionPool(DeadlinePoolMixin, HTTPSConnectionPool):
    """``HTTPSConnectionPool`` whose connections obey the call's ``Deadline``."""


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}

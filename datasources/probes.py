"""Port probes for the Status tab: TCP connect or HTTP GET, all at once, each bounded."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from config import Service
from datasources.deadline import Deadline

#: how much of an HTTP body is read looking for a keyword
KEYWORD_READ_LIMIT = 1 << 20


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe of one service."""

    name: str
    kind: str
    target: str
    group: str
    up: bool
    latency_ms: float | None
    detail: str
    checked_at: float


def _result(service: Service, up: bool, started: float, detail: str, checked_at: float,
            latency: bool = True) -> ProbeResult:
    ms = (time.perf_counter() - started) * 1000 if latency else None
    return ProbeResult(service.name, service.kind, service.target, service.group, up,
                       ms, detail, checked_at)


def probe_tcp(service: Service, *, now: Callable[[], float] = time.time) -> ProbeResult:
    """Open a TCP connection to the service and close it again."""
    checked_at, started = now(), time.perf_counter()
    try:
        with socket.create_connection((service.host, service.port), timeout=service.timeout):
            return _result(service, True, started, "connected", checked_at)
    except TimeoutError:
        return _result(service, False, started, _timed_out(service), checked_at, latency=False)
    except OSError as exc:
        return _result(service, False, started, _os_reason(exc), checked_at, latency=False)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved"
    return (exc.strerror or str(exc)).lower()


def probe_http(service: Service, *, now: Callable[[], float] = time.time) -> ProbeResult:
    """GET the service's path: up when the status is in range and the keyword is present.

    The whole probe (connect, headers, keyword read) ends by its timeout: a server sending its
    headers a byte at a time is cut at the deadline, not waited for byte after byte.
    """
    checked_at, started = now(), time.perf_counter()
    # http.client, not requests: no proxy from the environment, no redirect followed (a probe
    # never leaves the address it was given).
    conn = http.client.HTTPConnection(service.host, service.port, timeout=service.timeout)
    with Deadline(service.timeout) as deadline:
        deadline.attach(conn)
        try:
            conn.request("GET", _path(service), headers={"Connection": "close",
                                                         "User-Agent": "stackscope-probe"})
            resp = conn.getresponse()
            # Headers cut at the deadline can look complete: they were not.
            if deadline.expired:
                raise TimeoutError
            latency_ms = (time.perf_counter() - started) * 1000
            # A keyword read cut at the deadline judges what arrived in time.
            up, detail = _judge(service, resp, deadline)
        except (OSError, http.client.HTTPException) as exc:
            reason = _timed_out(service) if deadline.expired else _http_reason(exc, service.timeout)
            return _result(service, False, started, reason, checked_at, latency=False)
        finally:
            conn.close()
    return ProbeResult(service.name, service.kind, service.target, service.group, up,
                       latency_ms, detail, checked_at)


def _timed_out(service: Service) -> str:
    return f"timed out after {service.timeout:g} s"


def _path(service: Service) -> str:
    return service.path if service.path.startswith("/") else "/" + service.path


def _http_reason(exc: Exception, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP response ({type(exc).__name__})"
    return _os_reason(exc)


def _judge(service: Service, resp: http.client.HTTPResponse,
           deadline: Deadline) -> tuple[bool, str]:
    low, high = service.expect_status
    if not low <= resp.status <= high:
        return False, f"HTTP {resp.status}"
    if service.keyword and service.keyword not in _read_text(resp, deadline):
        return False, f"keyword {service.keyword!r} missing"
    return True, f"HTTP {resp.status}"


def _read_text(resp: http.client.HTTPResponse, deadline: Deadline) -> str:
    # Bounded in size; in time by the deadline, which cuts a read that is still waiting.
    body = bytearray()
    while len(body) < KEYWORD_READ_LIMIT and not deadline.expired:
        chunk = resp.read1(KEYWORD_READ_LIMIT - len(body))
        if not chunk:
            break
        body += chunk
    charset = resp.headers.get_content_charset() or "utf-8"
    return body.decode(charset, errors="replace")


def probe(service: Service) -> ProbeResult:
    """Probe one service the way its kind says."""
    return probe_tcp(service) if service.kind == "tcp" else probe_http(service)


def probe_all(services: Sequence[Service], *, probe_one: Callable = probe,
              now: Callable[[], float] = time.time) -> list[ProbeResult]:
    """Probe every service concurrently; a round takes about the longest timeout, not the sum."""
    if not services:
        return []
    pool = ThreadPoolExecutor(max_workers=min(len(services), 64), thread_name_prefix="probe")
    try:
        futures = [pool.submit(probe_one, s) for s in services]
        # Each probe bounds itself; this margin only covers a probe that overruns its timeout
        # (a server dribbling a body, say) so one target can never hold the round.
        wait(futures, timeout=max(s.timeout for s in services) * 2 + 0.5)
        return [_collect(f, s, now) for f, s in zip(futures, services, strict=True)]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _collect(future, service: Service, now) -> ProbeResult:
    if future.done() and future.exception() is None:
        return future.result()
    detail = (f"timed out after {service.timeout:g} s" if not future.done()
              else f"probe failed: {future.exception()}")
    return ProbeResult(service.name, service.kind, service.target, service.group, False,
                       None, detail, now())


def summary(results: Iterable[ProbeResult]) -> tuple[int, int]:
    """(services up, services probed)."""
    results = list(results)
    return sum(r.up for r in results), len(results)

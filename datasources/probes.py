"""Port probes for the Status tab: TCP connect or HTTP GET, all at once, each bounded."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import requests

from config import Service
from datasources.errors import reason_for

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
        return _result(service, False, started, f"timed out after {service.timeout:g} s",
                       checked_at, latency=False)
    except OSError as exc:
        return _result(service, False, started, _os_reason(exc), checked_at, latency=False)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved"
    return (exc.strerror or str(exc)).lower()


def probe_http(service: Service, *, now: Callable[[], float] = time.time,
               session_factory: Callable[[], requests.Session] = requests.Session
               ) -> ProbeResult:
    """GET the service's path: up when the status is in range and the keyword is present."""
    checked_at, started = now(), time.perf_counter()
    session = session_factory()
    session.trust_env = False  # probes go straight to the target, never through a proxy
    try:
        # Redirects are not followed: a probe must never leave the address it was given.
        with session.get(service.target, timeout=service.timeout, stream=True,
                         allow_redirects=False, headers={"Connection": "close"}) as resp:
            latency_ms = (time.perf_counter() - started) * 1000
            up, detail = _judge(service, resp)
    except requests.RequestException as exc:
        return _result(service, False, started, reason_for(exc, service.timeout), checked_at,
                       latency=False)
    finally:
        session.close()
    return ProbeResult(service.name, service.kind, service.target, service.group, up,
                       latency_ms, detail, checked_at)


def _judge(service: Service, resp: requests.Response) -> tuple[bool, str]:
    low, high = service.expect_status
    if not low <= resp.status_code <= high:
        return False, f"HTTP {resp.status_code}"
    if service.keyword and service.keyword not in _read_text(resp):
        return False, f"keyword {service.keyword!r} missing"
    return True, f"HTTP {resp.status_code}"


def _read_text(resp: requests.Response) -> str:
    body = resp.raw.read(KEYWORD_READ_LIMIT, decode_content=True) or b""
    return body.decode(resp.encoding or "utf-8", errors="replace")


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

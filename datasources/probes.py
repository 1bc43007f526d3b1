"""Port probes for the Status tab: TCP connect, HTTP or HTTPS GET, all at once, each bounded.

A probe's verdict is a state (``STATES``): what one probe saw is "up", "degraded" (answering,
but a certificate expires soon or known-answer queries fail) or "down"; a round then turns a
"down" into "pending" while the service's failures in a row are within its ``retries``
(``apply_retries``), and a service inside a maintenance window is "maintenance" whatever the
probe saw (``apply_maintenance``; the probe still runs, its outcome stays in the detail).
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import socket
import ssl
import time
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from config import Service
from datasources.deadline import Deadline
from query.maintenance import Window, in_maintenance

#: how much of an HTTP body is read looking for a keyword
KEYWORD_READ_LIMIT = 1 << 20

UP, PENDING, DOWN, MAINTENANCE, DEGRADED = "up", "pending", "down", "maintenance", "degraded"
#: every state; ``up`` (the bool) is True for UP and DEGRADED only
STATES = (UP, PENDING, DOWN, MAINTENANCE, DEGRADED)


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
    #: one of STATES; left empty, it follows ``up`` ("up" or "down")
    state: str = ""
    #: https: days until the certificate expires (negative: expired), else None
    cert_days: float | None = None

    def __post_init__(self):
        if not self.state:
            object.__setattr__(self, "state", UP if self.up else DOWN)
        elif self.state not in STATES:
            raise ValueError(f"unknown probe state {self.state!r}")

    def as_state(self, state: str, detail: str | None = None) -> ProbeResult:
        """This result with another state (``up`` following it) and optionally detail."""
        return dataclasses.replace(self, state=state, up=state in (UP, DEGRADED),
                                   detail=self.detail if detail is None else detail)


def _result(service: Service, up: bool, started: float, detail: str, checked_at: float,
            latency: bool = True, cert_days: float | None = None) -> ProbeResult:
    ms = (time.perf_counter() - started) * 1000 if latency else None
    return ProbeResult(service.name, service.kind, service.target, service.group, up,
                       ms, detail, checked_at, cert_days=cert_days)


def probe_tcp(service: Service, *, now: Callable[[], float] = time.time) -> ProbeResult:
    """Open a TCP connection to the service and close it again."""
    checked_at, started = now(), time.perf_counter()
    try:
        with socket.create_connection((service.host, service.port), timeout=service.timeout):
            return _result(service, True, started, "connected", checked_at)
    except TimeoutError:
        return _result(service, False, started, _timed_out(service), checked_at, latency=False)
    except OSError as exc:
        return _result(service, False, started, _os_reason(exc, service), checked_at,
                       latency=False)


def _os_reason(exc: OSError, service: Service) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"DNS: host name {service.host} not resolved"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate not valid: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {(exc.reason or str(exc)).lower().replace('_', ' ')}"
    return (exc.strerror or str(exc)).lower()


def probe_http(service: Service, *, now: Callable[[], float] = time.time) -> ProbeResult:
    """GET the service's path: up when the status is in range and the keyword is present.

    The whole probe (connect, TLS handshake, headers, keyword read) ends by its timeout: a
    server sending its headers a byte at a time is cut at the deadline, not waited for byte
    after byte. Over https the certificate's days to expiry come back in ``cert_days``.
    """
    checked_at, started = now(), time.perf_counter()
    # http.client, not requests: no proxy from the environment, no redirect followed (a probe
    # never leaves the address it was given).
    conn = _connection(service)
    cert_days = None
    with Deadline(service.timeout) as deadline:
        deadline.attach(conn)
        try:
            conn.request("GET", _path(service), headers={"Connection": "close",
                                                         "User-Agent": "stackscope-probe"})
            if service.kind == "https":  # now: a response may close the connection
                cert_days = _cert_days(conn.sock, checked_at)
            resp = conn.getresponse()
            # Headers cut at the deadline can look complete: they were not.
            if deadline.expired:
                raise TimeoutError
            latency_ms = (time.perf_counter() - started) * 1000
            # A keyword read cut at the deadline judges what arrived in time.
            up, detail = _judge(service, resp, deadline)
        except (OSError, http.client.HTTPException) as exc:
            reason = (_timed_out(service) if deadline.expired
                      else _http_reason(exc, service))
            if isinstance(exc, ssl.SSLCertVerificationError) and not deadline.expired:
                # A certificate that failed verification still has an expiry worth showing.
                cert_days = _unverified_cert_days(service, deadline, checked_at)
                if cert_days is not None and cert_days < 0:
                    reason = f"{reason} ({_days(-cert_days)} ago)"
            return _result(service, False, started, reason, checked_at, latency=False,
                           cert_days=cert_days)
        finally:
            conn.close()
    result = ProbeResult(service.name, service.kind, service.target, service.group, up,
                         latency_ms, detail, checked_at, cert_days=cert_days)
    return _judge_certificate(service, result) if up and cert_days is not None else result


def _connection(service: Service) -> http.client.HTTPConnection:
    if service.kind == "https":
        return http.client.HTTPSConnection(
            service.host, service.port, timeout=service.timeout,
            context=_tls_context(service.tls_verify, service.tls_ca_file))
    return http.client.HTTPConnection(service.host, service.port, timeout=service.timeout)


@functools.lru_cache(maxsize=32)
def _tls_context(verify: bool, ca_file: str) -> ssl.SSLContext:
    # One context per setting, shared: loading the system's CAs costs milliseconds per probe.
    if verify:
        return ssl.create_default_context(cafile=ca_file or None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _cert_days(sock, checked_at: float) -> float | None:
    """Days from ``checked_at`` until the peer's certificate expires (negative: expired)."""
    # The DER form: an unverified peer's getpeercert() is an empty dict.
    der = sock.getpeercert(binary_form=True) if sock is not None else None
    if not der:
        return None
    from cryptography import x509

    try:
        not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None
    return (not_after - checked_at) / 86400


def _unverified_cert_days(service: Service, deadline: Deadline,
                          checked_at: float) -> float | None:
    """The certificate's days to expiry from a second, unverified handshake (no request)."""
    holder = types.SimpleNamespace(sock=None)
    try:
        with socket.create_connection((service.host, service.port),
                                      timeout=max(deadline.remaining(), 0.001)) as raw:
            holder.sock = raw
            deadline.attach(holder)  # the handshake ends by the probe's deadline too
            with _tls_context(False, "").wrap_socket(raw, server_hostname=service.host) as tls:
                return _cert_days(tls, checked_at)
    except (OSError, ValueError):
        return None
    finally:
        deadline.detach(holder)


def _judge_certificate(service: Service, result: ProbeResult) -> ProbeResult:
    """Degraded when the certificate has expired (only seen with tls_verify off) or soon will."""
    days = result.cert_days
    if days < 0:
        return result.as_state(DEGRADED, f"{result.detail}; certificate expired "
                                         f"{_days(-days)} ago (tls_verify is off)")
    if days < service.tls_warn_days:
        return result.as_state(DEGRADED, f"{result.detail}; certificate expires in {_days(days)}")
    return dataclasses.replace(result, detail=f"{result.detail}; certificate valid for "
                                              f"{_days(days)}")


def _days(days: float) -> str:
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def _timed_out(service: Service) -> str:
    return f"timed out after {service.timeout:g} s"


def _path(service: Service) -> str:
    return service.path if service.path.startswith("/") else "/" + service.path


def _http_reason(exc: Exception, service: Service) -> str:
    if isinstance(exc, TimeoutError):
        return _timed_out(service)
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP response ({type(exc).__name__})"
    return _os_reason(exc, service)


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


def apply_retries(results: Sequence[ProbeResult], services: Sequence[Service],
                  failures: Mapping[str, int]) -> tuple[list[ProbeResult], dict[str, int]]:
    """"down" is "pending" until a service has failed more than its ``retries`` in a row.

    ``failures`` holds each service's failures in a row before this round; the counts after
    it come back with the results. A degraded service answers: it is not a failure.
    """
    retries = {s.name: s.retries for s in services}
    judged, after = [], {}
    for r in results:
        count = failures.get(r.name, 0) + 1 if r.state in (DOWN, PENDING) else 0
        after[r.name] = count
        if r.state == DOWN and count <= retries.get(r.name, 0):
            r = r.as_state(PENDING, f"{r.detail} (failure {count} of {retries[r.name] + 1} "
                                    "before Offline)")
        judged.append(r)
    return judged, after


def apply_known_answers(results: Sequence[ProbeResult],
                        failed: Mapping[str, str | None]) -> list[ProbeResult]:
    """An up service whose known-answer query failed (``failed[name]``: the upstream's words)
    is degraded: it accepts connections but cannot answer queries."""
    return [r.as_state(DEGRADED, f"up, but queries fail: {failed[r.name]}")
            if r.up and failed.get(r.name) else r for r in results]


def apply_maintenance(results: Sequence[ProbeResult], windows: Sequence[Window]
                      ) -> list[ProbeResult]:
    """A service inside a maintenance window is "maintenance"; the probe's outcome stays in
    the detail (an operator still sees whether it came back)."""
    out = []
    for r in results:
        window = in_maintenance(windows, r.name, r.checked_at)
        if window is not None:
            why = f" ({window.reason})" if window.reason else ""
            r = r.as_state(MAINTENANCE, f"maintenance{why}; probe: {r.state}, {r.detail}")
        out.append(r)
    return out


def summary(results: Iterable[ProbeResult]) -> tuple[int, int]:
    """(services up, services probed)."""
    results = list(results)
    return sum(r.up for r in results), len(results)

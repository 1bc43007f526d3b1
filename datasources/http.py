"""The one place HTTP to an upstream happens: sessions carry credentials, errors are mapped.

Every call is bounded, whatever the server does:
- a total deadline: connect, headers and body within ``upstream.timeout`` (``Deadline``);
- a size cap: the body is read as a stream and refused past ``upstream.max_response_bytes``;
- redirects only on the configured origin, at most ``MAX_REDIRECTS``: the credentials and the
  tenant never go anywhere else, and a foreign page is never shown as data;
- error text is scrubbed of every configured secret before it leaves this module.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

import telemetry
from config import Upstream
from datasources.deadline import POOL_CLASSES, Deadline
from datasources.errors import (
    BadResponse,
    DatasourceError,
    QueryError,
    Unreachable,
    from_transport,
)

USER_AGENT = "stackscope/0.1"
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
#: an error body is only shown as text (2 000 characters at most): the rest is not read
ERROR_BODY_LIMIT = 1 << 20
CHUNK = 64 * 1024
_MIB = 1 << 20

#: Reads an error body: returns (error_type, message) in the upstream's own words.
#: (errorType, error), or (errorType, error, warnings) when the error body carries warnings
ErrorReader = Callable[[requests.Response], tuple]


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose pools attach each connection to the running call's ``Deadline``."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


def make_session(upstream: Upstream) -> requests.Session:
    """A session carrying the upstream's credentials; they never leave the server."""
    session = requests.Session()
    with_deadlines(session)
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(upstream.headers)
    if upstream.bearer_token:
        session.headers["Authorization"] = f"Bearer {upstream.bearer_token}"
    elif upstream.username or upstream.password:
        session.auth = (upstream.username, upstream.password)
    if upstream.tenant:
        session.headers["X-Scope-OrgID"] = upstream.tenant
    return session


_MOUNT_LOCK = threading.Lock()


def with_deadlines(session: requests.Session) -> requests.Session:
    """Give ``session`` the ``DeadlineAdapter`` if it lacks it (a session passed in by a caller)."""
    if all(isinstance(session.adapters.get(p), DeadlineAdapter) for p in ("http://", "https://")):
        return session
    with _MOUNT_LOCK:
        # A fresh mapping swapped in whole: other threads may be iterating the old one.
        adapters = OrderedDict(session.adapters)
        adapters.update({"https://": DeadlineAdapter(), "http://": DeadlineAdapter()})
        session.adapters = OrderedDict(sorted(adapters.items(), key=lambda kv: -len(kv[0])))
    return session


def display_url(url: str) -> str:
    """``url`` without any ``user:password@``: fit for a message that reaches the browser."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host))


def plain_error(resp: requests.Response) -> tuple[str | None, str]:
    """Error text from a body that is not JSON (a proxy page, Loki's text/plain errors)."""
    text = resp.text.strip()
    if not text:
        return None, f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    if "<html" in text[:200].lower():
        return None, f"HTTP {resp.status_code} {resp.reason or ''} (HTML page from a proxy?)"
    return None, text[:2000]


def request(session: requests.Session, upstream: Upstream, method: str, path: str, *,
            params: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None,
            read_error: ErrorReader = plain_error) -> requests.Response:
    """Send one request within the upstream's deadline and size cap; its body is read.

    Transport failures and error statuses raise the error family, scrubbed of secrets.
    """
    if not upstream.enabled:
        raise Unreachable(upstream.name, "no URL configured")
    with scrubbing(upstream), telemetry.upstream_call(upstream.name) as call:
        resp = _exchange(with_deadlines(session), upstream, method, upstream.url + path,
                         params=params, data=data, headers=headers)
        call.status = resp.status_code
        if resp.status_code < 400:
            return resp
        raise error_for(resp, upstream, read_error)


@contextmanager
def scrubbing(upstream: Upstream):
    """Scrub every configured secret of ``upstream`` from a family error raised inside."""
    try:
        yield
    except DatasourceError as exc:
        exc.scrub(upstream.secrets)
        raise


def _exchange(session: requests.Session, upstream: Upstream, method: str, url: str,
              **kw) -> requests.Response:
    with Deadline(upstream.timeout) as deadline:
        try:
            resp = _follow(session, upstream, deadline, method, url, **kw)
            error = resp.status_code >= 400
            limit = ERROR_BODY_LIMIT if error else upstream.max_response_bytes
            # Where requests keeps a body it read itself: .content, .text and .json() work as
            # usual for the readers, on a body read within the deadline and the cap.
            resp._content = _read_body(resp, upstream, limit, cut=error)
        except requests.RequestException as exc:
            if deadline.expired:
                raise timed_out(upstream) from exc
            raise from_transport(upstream.name, exc, upstream.timeout) from exc
        # A connection cut at the deadline can look like a complete (short) answer.
        if deadline.expired:
            raise timed_out(upstream)
        return resp


def timed_out(upstream: Upstream) -> Unreachable:
    """The error of a call that ran out of its total deadline."""
    return Unreachable(upstream.name, f"timed out after {upstream.timeout:g} s")


def _follow(session, upstream: Upstream, deadline: Deadline, method: str, url: str, *,
            params, data, headers) -> requests.Response:
    """Send, following at most ``MAX_REDIRECTS`` redirects, all on the configured origin."""
    home = origin(upstream.url)
    for hop in range(MAX_REDIRECTS + 1):
        resp = session.request(method, url, params=params, data=data, headers=headers,
                               timeout=deadline.socket_timeout(upstream.timeout), stream=True,
                               allow_redirects=False)
        location = resp.headers.get("Location")
        if resp.status_code not in REDIRECTS or not location:
            return resp
        resp.close()
        target = urljoin(resp.url, location)
        status = resp.status_code
        if origin(target) != home:
            raise BadResponse(upstream.name, f"HTTP {status} redirect to another host "
                              f"({display_url(target)}) not followed: the credentials stay with "
                              f"{origin_url(home)}", status=status)
        if hop == MAX_REDIRECTS:
            raise BadResponse(upstream.name, f"more than {MAX_REDIRECTS} redirects (the last "
                              f"to {display_url(target)})", status=status)
        url, params = target, None
        # Only 303 means "GET it instead". A 301/302 keeps the POST and its form, unlike in a
        # browser: turned into a bare GET, a PromQL query would arrive without its query.
        if status == 303:
            method, data = "GET", None
    raise AssertionError("unreachable")  # pragma: no cover


def origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of ``url``, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


def origin_url(home: tuple[str, str | None, int | None]) -> str:
    """``scheme://host:port`` of an ``origin``."""
    scheme, host, port = home
    host = f"[{host}]" if host and ":" in host else host
    return f"{scheme}://{host}:{port}"


def _read_body(resp: requests.Response, upstream: Upstream, limit: int, *, cut: bool) -> bytes:
    """The body, read as a stream: past ``limit`` bytes a ``BadResponse`` (or, if ``cut``, the
    first ``limit`` bytes)."""
    declared = resp.headers.get("Content-Length", "")
    if not cut and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise too_large(upstream, limit)
    chunks, size = [], 0
    for chunk in resp.iter_content(CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            resp.close()
            if cut:
                return b"".join(chunks)[:limit]
            raise too_large(upstream, limit)
    return b"".join(chunks)


def too_large(upstream: Upstream, limit: int) -> BadResponse:
    """The error of an answer over the size cap, naming the setting that sets it."""
    return BadResponse(upstream.name, f"response larger than {limit / _MIB:g} MiB, not read "
                       f"further (setting {upstream.name.lower()}.max_response_mb)")


def error_for(resp: requests.Response, upstream: Upstream,
              read_error: ErrorReader) -> DatasourceError:
    """The family member for an error status, with the upstream's words and its Retry-After.

    A reader may return a third item, the body's warnings: they stay on the error.
    """
    words = read_error(resp)
    error = _status_error(resp, upstream, *words[:2])
    error.warnings = list(words[2]) if len(words) > 2 else []
    return error


def _status_error(resp: requests.Response, upstream: Upstream, error_type: str | None,
                  message: str) -> DatasourceError:
    status, url = resp.status_code, resp.url.split("?", 1)[0]
    if status >= 500 or status in (408, 429):
        wait = retry_after(resp.headers.get("Retry-After"))
        hint = f" (retry after {wait:.0f} s)" if wait is not None else ""
        return Unreachable(upstream.name, f"HTTP {status}: {message}{hint}", status=status,
                           error_type=error_type, retry_after=wait)
    if status in (401, 403, 404, 405):
        return BadResponse(upstream.name, f"HTTP {status}: {message} ({display_url(url)})",
                           status=status, error_type=error_type)
    return QueryError(upstream.name, message, status=status, error_type=error_type)


def retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), else None."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; a zoneless one is not one
    return max(0.0, when.timestamp() - now())

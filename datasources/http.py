"""The one place HTTP to an upstream happens: sessions carry credentials, errors are mapped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from config import Upstream
from datasources.errors import BadResponse, QueryError, Unreachable, from_transport

USER_AGENT = "stackscope/0.1"

#: Reads an error body: returns (error_type, message) in the upstream's own words.
ErrorReader = Callable[[requests.Response], tuple[str | None, str]]


def make_session(upstream: Upstream) -> requests.Session:
    """A session carrying the upstream's credentials; they never leave the server."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(upstream.headers)
    if upstream.bearer_token:
        session.headers["Authorization"] = f"Bearer {upstream.bearer_token}"
    elif upstream.username or upstream.password:
        session.auth = (upstream.username, upstream.password)
    if upstream.tenant:
        session.headers["X-Scope-OrgID"] = upstream.tenant
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
            headers: Mapping[str, str] | None = None, read_error: ErrorReader = plain_error,
            stream: bool = False) -> requests.Response:
    """Send one request; map transport failures and error statuses into the error family."""
    if not upstream.enabled:
        raise Unreachable(upstream.name, "no URL configured")
    url = upstream.url + path
    try:
        resp = session.request(method, url, params=params, data=data, headers=headers,
                               timeout=upstream.timeout, stream=stream)
    except requests.RequestException as exc:
        raise from_transport(upstream.name, exc, upstream.timeout) from exc
    if resp.status_code < 400:
        return resp
    error_type, message = read_error(resp)
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        raise Unreachable(upstream.name, f"HTTP {resp.status_code}: {message}",
                          status=resp.status_code, error_type=error_type)
    if resp.status_code in (401, 403, 404, 405):
        raise BadResponse(upstream.name, f"HTTP {resp.status_code}: {message} "
                          f"({display_url(url)})",
                          status=resp.status_code, error_type=error_type)
    raise QueryError(upstream.name, message, status=resp.status_code, error_type=error_type)

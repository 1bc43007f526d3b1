"""One error family for every upstream, keeping the upstream's own words.

The subclasses mean different things to the UI:
- ``Unreachable``: connection refused, timeout, 5xx. Serve the last good value as stale, back off.
- ``QueryError``: the upstream rejected the query (4xx). Show its text; never paper over it.
- ``BadResponse``: the upstream answered, but not with what its API promises.
"""

from __future__ import annotations

import requests


class DatasourceError(Exception):
    """Base of every error a datasource raises; ``upstream`` names who said it."""

    #: whether the cache may answer with the last good value instead
    serve_stale = True

    def __init__(self, upstream: str, message: str, *, status: int | None = None,
                 error_type: str | None = None):
        super().__init__(message)
        self.upstream = upstream
        self.message = message
        self.status = status
        self.error_type = error_type

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """One line for a panel: who failed and the upstream's own words."""
        kind = f"{self.error_type}: " if self.error_type else ""
        return f"{self.upstream} {self.verb}: {kind}{self.message}"

    verb = "error"

    def __reduce__(self):
        # Keep the keyword fields when pickled into the disk cache or a background job.
        return (_rebuild, (type(self), self.upstream, self.message, self.status, self.error_type))


def _rebuild(cls, upstream, message, status, error_type):
    return cls(upstream, message, status=status, error_type=error_type)


class Unreachable(DatasourceError):
    """Connection refused, timed out, or a 5xx: the upstream could not answer."""

    verb = "unreachable"


class QueryError(DatasourceError):
    """The upstream rejected the request (4xx): the text is its own."""

    serve_stale = False
    verb = "rejected the query"


class BadResponse(DatasourceError):
    """The upstream answered with a body its API does not promise."""

    verb = "sent a bad response"


def reason_for(exc: requests.RequestException, timeout: float | None = None) -> str:
    """A short human reason for a transport failure ("connection refused", "timed out …")."""
    text = str(exc).lower()
    if isinstance(exc, requests.Timeout) or "timed out" in text:
        return f"timed out after {timeout:g} s" if timeout else "timed out"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text \
            or "failed to resolve" in text or "name resolution" in text:
        return "host name not resolved"
    if "no route to host" in text:
        return "no route to host"
    if "reset by peer" in text:
        return "connection reset by peer"
    if "remotedisconnected" in text or "connection aborted" in text:
        return "connection closed without a response"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    return type(exc).__name__


def from_transport(upstream: str, exc: requests.RequestException,
                   timeout: float | None = None) -> Unreachable:
    """Map a requests transport exception into the family, in one place."""
    return Unreachable(upstream, reason_for(exc, timeout))

"""One error family for every upstream, keeping the upstream's own words.

The subclasses mean different things to the UI:
- ``Unreachable``: connection refused, timeout, 5xx. Serve the last good value as stale, back off.
- ``QueryError``: the upstream rejected the query (4xx). Show its text; never paper over it.
- ``BadResponse``: the upstream answered, but not with what its API promises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

import requests

REDACTED = "[redacted]"
#: ``scheme://user:password@`` in any URL quoted by an upstream or a proxy
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and the user-info of any URL, replaced by "[redacted]"."""
    for secret in sorted(_forms(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _USERINFO.sub(rf"\1{REDACTED}@", text)


def _forms(secrets: Iterable[str]) -> set[str]:
    # A server echoing a request may show a value JSON-escaped or percent-encoded.
    return {form for s in secrets if s
            for form in (s, json.dumps(s)[1:-1], quote(s, safe=""))}


class DatasourceError(Exception):
    """Base of every error a datasource raises; ``upstream`` names who said it."""

    #: whether the cache may answer with the last good value instead
    serve_stale = True

    def __init__(self, upstream: str, message: str, *, status: int | None = None,
                 error_type: str | None = None, retry_after: float | None = None,
                 warnings: Iterable[str] = ()):
        super().__init__(message)
        self.upstream = upstream
        self.message = message
        self.status = status
        self.error_type = error_type
        #: seconds the upstream asked us to wait (``Retry-After``), for the cache's backoff
        self.retry_after = retry_after
        #: the upstream's warnings and infos sent along with the error (Prometheus does)
        self.warnings = list(warnings)

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """One line for a panel: who failed and the upstream's own words."""
        kind = f"{self.error_type}: " if self.error_type else ""
        return f"{self.upstream} {self.verb}: {kind}{self.message}"

    verb = "error"

    def scrub(self, secrets: Iterable[str]) -> DatasourceError:
        """Remove ``secrets`` from the message and error type, in place (see ``scrub``)."""
        self.message = scrub(self.message, secrets)
        self.args = (self.message,)
        if self.error_type:
            self.error_type = scrub(self.error_type, secrets)
        self.warnings = [scrub(w, secrets) for w in self.warnings]
        return self

    def __reduce__(self):
        # Keep the keyword fields when pickled into the disk cache or a background job.
        return (_rebuild, (type(self), self.upstream, self.message, self.status, self.error_type,
                           self.retry_after, self.warnings))


def _rebuild(cls, upstream, message, status, error_type, retry_after=None, warnings=()):
    return cls(upstream, message, status=status, error_type=error_type, retry_after=retry_after,
               warnings=warnings)


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

"""Predefined LogQL queries for the Logs tab: the configured ones, else the seeds below.

The seeds assume the backend's JSON log lines (timestamp, level, logger, message, request_id,
user_id, trace_id, span_id) next to plain-text lines from the proxy and other services.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import NamedTuple

from query.promql import escape_value

#: Placeholder the request-id trace query carries; the tab fills it from its input box.
REQUEST_ID = "$request_id"


class LogQuery(NamedTuple):
    """One entry of the predefined-query menu."""

    name: str
    query: str


# `job=~".+"` selects every stream: Loki refuses a selector whose matchers all match "".
# Label matchers are anchored, so case-insensitivity is the scoped `(?i:…)`, not `(?i)`.
SEEDS: tuple[LogQuery, ...] = (
    LogQuery("Errors", '{job=~".+"} | json | level=~"(?i:error|critical|fatal)"'),
    LogQuery("Task-creation failures",
             '{job=~".+"} |~ "(?i)task" |~ "(?i)creat" |~ "(?i)fail|error|exception"'),
    LogQuery("Auth failures",
             '{job=~".+"} |~ "(?i)\\\\b(401|403)\\\\b|unauthori[sz]ed|forbidden|invalid token"'),
    LogQuery("WebSocket disconnections",
             '{job=~".+"} |~ "(?i)websocket" |~ "(?i)disconnect|closed|close code"'),
    LogQuery("High-latency requests (> 1 s)", '{job=~".+"} | json | duration_ms > 1000'),
    LogQuery("Request trace (request_id)", '{job=~".+"} | json | request_id="$request_id"'),
)


def predefined(configured: Sequence[SimpleNamespace]) -> tuple[LogQuery, ...]:
    """The configured ``[[log_queries]]``, or the seeds when none are configured."""
    if not configured:
        return SEEDS
    return tuple(LogQuery(q.name, q.query) for q in configured)


def needs_request_id(query: str) -> bool:
    """Whether ``query`` carries the request-id placeholder."""
    return REQUEST_ID in query


def expand(query: str, request_id: str | None) -> str:
    """Put ``request_id`` in place of the placeholder, escaped as a LogQL string."""
    if not needs_request_id(query):
        return query
    rid = (request_id or "").strip()
    if not rid:
        raise ValueError("this query traces one request: enter its request_id first")
    return query.replace(REQUEST_ID, escape_value(rid))

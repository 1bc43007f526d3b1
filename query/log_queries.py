"""Predefined LogQL queries for the Logs tab: the configured ones, else the seeds below.

The seeds are written for two kinds of line and must be right for both:

- the backend's JSON lines (``timestamp, level, logger, message, request_id, user_id,
  trace_id, span_id`` and, per HTTP request, ``method, route, status_code, duration_ms``);
- NGINX access lines, in the demo's JSON format (``method, uri, status_code, body_bytes_sent,
  request_time`` in seconds, ``request_id``: ``services.NGINX_LOG_FORMAT``) or the combined
  format (``… "GET /api/tasks HTTP/1.1" 500 123 …``).

What each returns:

- Errors: JSON lines whose ``level`` is error, critical, fatal, panic or emerg (any case,
  short forms too), ``level=error`` logfmt lines, and lines with a 5xx ``status_code`` (JSON
  lines: the API's and NGINX's) or NGINX combined status.
- Task-creation failures: lines about creating tasks (the ``/api/tasks`` route, "task
  creation", "create task") that failed: a 5xx status (JSON ``status`` or NGINX), an error
  level, or "fail"/"exception". A search for "tasks" that failed is not one.
- Auth failures: a 401 or 403 status (JSON ``status``/``status_code``, NGINX status) and
  lines saying authentication failed or invalid token/password/credentials. A number
  elsewhere in the line (``"duration_ms":0.403``, a body size of 401) is not one, nor a
  word in a requested URL.
- WebSocket disconnections: WebSocket lines that say disconnected, or closed with a close
  code other than 1000 (normal closure) and 1001 (going away).
- High-latency requests: JSON lines whose ``duration_ms`` is over 1 000 or whose
  ``request_time`` (NGINX's, in seconds) is over 1, WebSocket sessions (long on purpose) left
  out; NGINX's combined format has no request time.
- Request trace: the JSON lines of one ``request_id`` (the API's and NGINX's).

Status and level are read by their place in the line (the JSON key, the status after NGINX's
quoted request), not by a bare number anywhere: one query covers both formats, where a
parser stage (``| json``) would drop every NGINX line.
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


def _json_status(codes: str) -> str:
    """The JSON ``"status_code": N`` (or ``status``) key, N matching ``codes``: the key's own
    place in the line, never a number inside another value (a string's quotes are escaped)."""
    return rf'"status(_code)?":\s*"?({codes})\b'


def _nginx_status(codes: str) -> str:
    """NGINX's status: the number right after the quoted request line."""
    return rf'HTTP/[0-9.]+" ({codes}) '


_ERROR_WORDS = "err|error|crit|critical|fatal|panic|emerg|alert"
_ERROR_LINE = (rf'"level":\s*"(?i:{_ERROR_WORDS})"|(?i:\blevel=({_ERROR_WORDS})\b)|'
               + _json_status("5[0-9]{2}") + "|" + _nginx_status("5[0-9]{2}"))
_AUTH_LINE = (_json_status("401|403") + "|" + _nginx_status("401|403") + "|"
              r"(?i:authentication failed|invalid (token|password|credentials))")

# `job=~".+"` selects every stream: Loki refuses a selector whose matchers all match "".
# Regexes sit in backticks (no LogQL escaping); case-insensitivity is the scoped `(?i:…)`,
# which RE2 (Loki) and Python (the stand-in) both read.
SEEDS: tuple[LogQuery, ...] = (
    LogQuery("Errors", f'{{job=~".+"}} |~ `{_ERROR_LINE}`'),
    LogQuery("Task-creation failures",
             r'{job=~".+"} |~ `/api/tasks\b|(?i:task creation|creat\w* (a |the )?task)` |~ `'
             + _ERROR_LINE + r"|(?i:\bfail|exception)`"),
    LogQuery("Auth failures", f'{{job=~".+"}} |~ `{_AUTH_LINE}`'),
    LogQuery("WebSocket disconnections",
             r'{job=~".+"} |~ `(?i:websocket)` |~ `(?i:disconnect)|'
             r"(?i:close code) (100[2-9]|10[1-9][0-9]|1[1-9][0-9]{2}|[2-4][0-9]{3})\b`"),
    # `__error__=""`: Loki keeps a line that failed to parse through a numeric filter, so
    # the NGINX lines (not JSON) would all count as slow without it.
    LogQuery("High-latency requests (> 1 s)",
             '{job=~".+"} | json | __error__="" | duration_ms > 1000 or request_time > 1 '
             '| route !~ ".*/ws" | uri !~ ".*/ws([?].*)?"'),
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

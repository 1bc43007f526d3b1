"""From an exemplar on a chart to the Logs tab on its request: the LogQL and the URL.

The demo API (and any service logging like it) writes the exemplar's ``request_id`` and
``trace_id`` in its JSON log lines, so a line filter on the id finds the request's lines
(the API's and NGINX's, which logs the request_id too) in every stream.
"""

from __future__ import annotations

from collections.abc import Mapping

from query.promql import escape_value
from query.range_state import iso_utc, with_params

#: exemplar labels tried in order; request_id first (NGINX logs it, not the trace id)
ID_LABELS = ("request_id", "trace_id")
#: seconds of logs shown either side of the exemplar's time
AROUND = 300
#: the Logs tab's URL keys: its tab, range and the query to run
LOGS_QUERY_KEY = "logs.q"


def trace_query(labels: Mapping[str, str]) -> str | None:
    """``{job=~".+"} |= "<id>"``: every line carrying the exemplar's id (None without one)."""
    for key in ID_LABELS:
        value = labels.get(key)
        if isinstance(value, str) and value:
            return f'{{job=~".+"}} |= "{escape_value(value)}"'
    return None


def logs_search(search: str | None, labels: Mapping[str, str], at: float,
                around: float = AROUND) -> str | None:
    """The URL query string opening Logs on the exemplar's request around ``at`` (epoch s)."""
    query = trace_query(labels)
    if query is None:
        return None
    return with_params(search, {"tab": "logs", "logs.from": iso_utc(at - around),
                                "logs.to": iso_utc(at + around), LOGS_QUERY_KEY: query})

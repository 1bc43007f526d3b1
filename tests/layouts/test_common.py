"""The stale badge and error panel every tab shows."""

from __future__ import annotations

import calendar
import json
import time

import dash_bootstrap_components as dbc
import plotly.utils
from dash import html

from datasources.cache import Result
from datasources.errors import QueryError, Unreachable
from layouts.common import result_notice, shown_already


def text_of(component) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, list | tuple):
        return "".join(text_of(c) for c in children)
    return str(children) if children is not None else ""


def test_stale_result_shows_when_and_why():
    at = calendar.timegm((2026, 11, 22, 9, 15, 42, 0, 0, 0))  # times are shown in UTC
    result = Result(value=[1], error=Unreachable("Prometheus", "connection refused"),
                    stale=True, fetched_at=at)
    badge = result_notice(result)
    assert text_of(badge) == ("stale since 09:15:42 — Prometheus unreachable: "
                              "connection refused")
    assert badge.color == "warning"


def test_rejected_query_shows_the_upstream_words():
    error = QueryError("Prometheus", 'parse error at char 5: unexpected "}"',
                       error_type="bad_data")
    alert = result_notice(Result(error=error))
    assert text_of(alert) == ('Prometheus rejected the query: bad_data: '
                              'parse error at char 5: unexpected "}"')
    assert alert.color == "danger"


def test_fresh_result_needs_no_notice():
    assert result_notice(Result(value=1, fetched_at=time.time())) is None


def test_shown_already_compares_with_the_json_the_browser_sends_back():
    part = dbc.Card([html.Span("a", className="x"), dbc.Badge("2", pill=True)])
    sent = json.loads(json.dumps(part, cls=plotly.utils.PlotlyJSONEncoder))
    assert shown_already(part, sent)
    sent["props"]["children"][0]["props"]["children"] = "b"
    assert not shown_already(part, sent)
    assert not shown_already(part, None)
    assert shown_already(None, None) and not shown_already(None, sent)

"""Pieces every tab uses: the stale badge and the error panel (of a datasource ``Result``)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def stale_badge(result):
    """A visible 'stale since HH:MM:SS — … unreachable: …' badge, or None when fresh."""
    text = result.stale_badge() if result is not None else None
    if not text:
        return None
    return dbc.Badge(text, color="warning", text_color="dark", className="stale-badge")


def error_alert(error, *, title: str | None = None):
    """The upstream's own words in a panel (a ``DatasourceError`` or text), never a traceback."""
    text = error.describe() if hasattr(error, "describe") else str(error)
    body = [html.Strong(title + ": ")] if title else []
    return dbc.Alert([*body, html.Span(text, className="upstream-error")], color="danger",
                     className="upstream-error-panel mb-2")


def result_notice(result):
    """What to show above a panel: the stale badge, or the error when there is no data."""
    if result is None:
        return None
    if result.stale:
        return stale_badge(result)
    if result.error is not None:
        return error_alert(result.error)
    return None

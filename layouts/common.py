"""Pieces every tab uses: the stale badge, the error panel (of a datasource ``Result``) and
the plotly config every chart gets."""

from __future__ import annotations

import json

import dash_bootstrap_components as dbc
import plotly.utils
from dash import html

#: Nothing on a chart reaches the internet (an ops network must not leak data). Dash 4.4's
#: dcc.Graph passes ``config`` through with no defaults of its own, so plotly.js' apply, and
#: plotly.js 4 (bundled with Dash 4.4) defaults to ``showSendToCloud: true`` with
#: ``plotlyServerURL`` "https://cloud.plotly.com/newchart": every mode bar offers "Share
#: chart...", which posts the chart's data there. Older plotly.js had "Edit in Chart Studio"
#: (``showEditInChartStudio``) and an "Edit chart" link (``showLink``); the logo links to
#: plotly.com. All of them off, the buttons removed by name, and no server to send to.
OFFLINE_GRAPH_CONFIG = {
    "displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False,
    "showLink": False, "sendData": False, "watermark": False, "plotlyServerURL": "",
    "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio"],
}


def graph_config(**extra) -> dict:
    """``OFFLINE_GRAPH_CONFIG`` with a chart's own settings (its removed buttons added)."""
    removed = [*OFFLINE_GRAPH_CONFIG["modeBarButtonsToRemove"],
               *extra.pop("modeBarButtonsToRemove", [])]
    return {**OFFLINE_GRAPH_CONFIG, **extra, "modeBarButtonsToRemove": removed}


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


def shown_already(children, shown) -> bool:
    """Whether the browser shows ``children`` already: ``shown`` is that prop as the browser
    sends it back (a ``State``)."""
    if children is None or shown is None:
        return children is None and shown is None
    return json.loads(json.dumps(children, cls=plotly.utils.PlotlyJSONEncoder)) == shown

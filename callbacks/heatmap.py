"""Heatmap panels, exemplars on charts, and an exemplar click opening Logs on its request.

Called from ``callbacks.metrics`` (a panel's ``kind`` and ``exemplars`` decide); the click
and the Logs tab's ``logs.q`` URL key are wired here.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from callbacks import range_picker as picker
from layouts import heatmap as heat
from layouts import ids
from layouts import metrics as view
from query import exemplar_link, limits
from query import heatmap as hm
from query import range_state as rp


def chart(deps, panel, window, query: str, ttl: float | None, revision: str) -> tuple:
    """A heatmap panel's figure and notices: the query's buckets (native or classic)."""
    result = deps.prometheus.query_buckets(query, window.start, window.end, window.step, ttl=ttl)
    if result.value is None:
        return view.empty_figure("no data: the query failed"), view.notice(result)
    grid, notes = hm.grid(result.value)
    quantiles = {f"p{round(q * 100)}": hm.quantile(grid, q) for q in hm.QUANTILES} \
        if panel.quantiles and not grid.empty else None
    points = None
    if panel.exemplars:
        points, more = exemplar_points(deps, query, window, ttl)
        notes += more
    fig = heat.heatmap_figure(grid, window, unit=panel.unit, quantiles=quantiles,
                              points=points, revision=revision)
    return fig, view.notice(result, notes)


def exemplar_points(deps, query: str, window, ttl: float | None) -> tuple[hm.Exemplars, list]:
    """The query's exemplars over the window; a failure is a note, the chart still draws."""
    found = deps.prometheus.query_exemplars(query, window.start, window.end, ttl=ttl)
    if found.value is None:
        return hm.exemplars(None)[0], [f"exemplars: {found.error.describe()}"]
    return hm.exemplars(found.value)


def with_exemplars(deps, panel, fig, query: str, window, ttl: float | None) -> tuple:
    """A line chart with the query's exemplars as points, and notes."""
    if not isinstance(fig, dict):
        return fig, []
    points, notes = exemplar_points(deps, query, window, ttl)
    return heat.with_exemplars(fig, points, panel.unit), notes


def register(app) -> None:
    """An exemplar click opens Logs on its request; ``logs.q`` in the URL runs that query."""

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input({"type": ids.METRICS_GRAPH, "panel": ALL}, "clickData"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def open_logs(_clicks, search):
        for trigger in ctx.triggered:
            wanted = clicked_link(trigger.get("value"), search)
            if wanted:
                return wanted
        raise PreventUpdate

    @app.callback(
        Output(ids.LOGS_QUERY, "value", allow_duplicate=True),
        Output(ids.LOGS_RUN, "n_clicks"),
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.URL, "search"),
        State(ids.LOGS_RUN, "n_clicks"),
        prevent_initial_call="initial_duplicate",
    )
    def logs_query(search, clicks):
        query = rp.url_params(search).get(exemplar_link.LOGS_QUERY_KEY)
        if not query:
            raise PreventUpdate
        query = limits.text(query, "query", most=limits.MAX_QUERY)
        # Run it once (a Run click), then drop the key: later edits of the box stay.
        done = picker.url_update(search, {exemplar_link.LOGS_QUERY_KEY: None})
        return query, (clicks or 0) + 1, done


#: exemplar times past this (year 5138) are not ones a chart drew
LATEST_SECONDS = 1e11


def clicked_link(click, search) -> str | None:
    """The URL opening Logs for a click on an exemplar point (None for any other point)."""
    points = click.get("points") if isinstance(click, dict) else None
    point = points[0] if isinstance(points, list) and points else None
    custom = point.get("customdata") if isinstance(point, dict) else None
    if not (isinstance(custom, list) and len(custom) >= 3):
        return None
    request_id, trace_id, at = custom[:3]
    if not isinstance(at, (int, float)) or isinstance(at, bool) \
            or not 0 < at < LATEST_SECONDS:
        return None
    labels = {k: v for k, v in (("request_id", request_id), ("trace_id", trace_id))
              if isinstance(v, str) and v and len(v) <= 256}
    found = exemplar_link.logs_search(search, labels, float(at))
    return found if found and found != (search or "") else None




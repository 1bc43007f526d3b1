"""Metrics tab: range picker, job/instance variables, ad-hoc PromQL and the preset panels.

Charts are built here from the lines ``query.chart`` cuts from the datasource's long frames:
one trace per series, gaps left as gaps, WebGL past a few series, and a bounded payload.
Figures are built in UTC epoch milliseconds; ``layouts.time_axis`` then sends them so the
browser shows them on the chosen zone's clock (plotly.js shows milliseconds on the browser's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import Patch, dcc, html, no_update

from config import Config
from layouts import chart_extras, ids, panel_axis, time_axis
from layouts.common import graph_config, result_notice
from layouts.range_picker import range_picker
from query import chart, live
from query.panels import ADHOC, Panel
from query.timerange import Window
from query.y_axis import YAxis

GRAPH_HEIGHT = 260
#: above this many series, or points, traces switch to WebGL (scattergl)
GL_SERIES, GL_POINTS = 20, 10_000
SPARSE_POINTS = 30
GRAPH_CONFIG = graph_config(responsive=True, displayModeBar="hover",
                            modeBarButtonsToRemove=["select2d", "lasso2d", "autoScale2d"])
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def layout(config: Config):
    """The Metrics tab's frame; panels and figures arrive from callbacks/metrics.py."""
    return html.Div([
        dcc.Store(id=ids.METRICS_WIDTH),
        dcc.Store(id=ids.METRICS_QUERY_STORE, data=""),
        dcc.Store(id=ids.METRICS_QUERY_RECENT, storage_type="local"),
        range_picker("metrics", refresh_seconds=config.refresh.metrics, zones=True),
        variables(),
        adhoc_card(),
        chart_extras.controls([a.name for a in config.annotations]),
        chart_extras.inspect_modal(),
        html.Div(id=ids.METRICS_PANELS_NOTICE),
        html.Div(id=ids.METRICS_PANELS, className="metrics-panels"),
    ], className="metrics-tab mt-3")


def variables():
    """The job and instance dropdowns the presets' $job and $instance come from (several
    values each: a regex alternation; none chosen is all)."""
    def dropdown(id_, name):
        return html.Div([
            html.Label(name, htmlFor=id_, className="small text-muted me-2 mb-0"),
            dcc.Dropdown(id=id_, options=[], value=[], multi=True, placeholder="All",
                         className="metrics-variable"),
        ], className="d-flex align-items-center me-3")
    return html.Div([dropdown(ids.METRICS_JOB, "job"), dropdown(ids.METRICS_INSTANCE, "instance")],
                    className="d-flex flex-wrap align-items-center mb-2 metrics-variables")


def adhoc_card():
    """The ad-hoc PromQL box with autocomplete, the upstream's error under it, and its chart."""
    box = dbc.InputGroup([
        # No debounce: Enter must submit what is typed (a numeric debounce sends n_submit with
        # a stale value), and each keystroke refreshes the suggestions.
        dbc.Input(id=ids.METRICS_QUERY, list=ids.METRICS_QUERY_SUGGEST, debounce=False,
                  placeholder="PromQL, e.g. rate(prometheus_http_requests_total[5m])",
                  className="font-monospace metrics-query", autoComplete="off"),
        dbc.Button("Run", id=ids.METRICS_QUERY_RUN, color="primary", n_clicks=0),
    ], size="sm")
    return dbc.Card([
        dbc.CardBody([
            box,
            html.Datalist(id=ids.METRICS_QUERY_SUGGEST),
            html.Div(panel_body(Panel(ADHOC, "Ad-hoc query", "")), id=ids.METRICS_ADHOC,
                     style={"display": "none"}),
        ], className="p-2"),
    ], className="mb-3 metrics-adhoc")


def panels_grid(panels: Sequence[Panel], first: Mapping[str, tuple] | None = None):
    """Panels grouped into their sections, two per row on wide screens; ``first`` holds, by
    slug, the (figure, notices, held record) a panel mounts with (else it mounts empty)."""
    sections, order = {}, []
    for p in panels:
        if p.group not in sections:
            sections[p.group], order = [], [*order, p.group]
        sections[p.group].append(p)
    first = first or {}
    return [html.Section([
        html.H6(group or "Panels", className="text-uppercase text-muted metrics-section"),
        dbc.Row([dbc.Col(panel_card(p, first.get(p.slug)), lg=6, className="mb-3")
                 for p in sections[group]]),
    ]) for group in order]


def panel_card(panel: Panel, first: tuple | None = None):
    """One panel: title, unit, notices, Download CSV and the chart (``first`` as above)."""
    return dbc.Card(panel_body(panel, first, full_screen=True), className="metrics-panel h-100",
                    id={"type": ids.METRICS_PANEL, "panel": panel.slug})


def panel_body(panel: Panel, first: tuple | None = None, *, full_screen: bool = False):
    """A panel's header and chart; the ids carry the panel's slug. ``first``: the figure,
    notices, held record and what goes under the chart it mounts with, so the chart is drawn
    once, with its data. ``full_screen`` adds the button that fills the window with it."""
    figure, notices, holds, below = first or (empty_figure("loading…"), None, None, None)
    key = {"panel": panel.slug}
    tools = [dbc.Button("Inspect", id={"type": ids.METRICS_INSPECT, **key}, size="sm",
                        color="link", className="p-0 metrics-csv", n_clicks=0,
                        title="the query as sent, its step and timing, and the data"),
             dbc.Button("Download CSV", id={"type": ids.METRICS_CSV, **key}, size="sm",
                        color="link", className="p-0 metrics-csv", n_clicks=0)]
    if full_screen:
        tools.append(dbc.Button("⤢", id={"type": ids.METRICS_FULL, **key}, size="sm",
                                color="link", className="p-0 metrics-csv metrics-full",
                                n_clicks=0, title="full screen (again to restore)"))
    header = html.Div([
        html.Span(panel.title, className="metrics-panel-title fw-semibold", title=panel.query),
        html.Span(unit_label(panel.unit), className="text-muted small ms-2"),
        html.Div(tools, className="ms-auto d-flex gap-2"),
        dcc.Download(id={"type": ids.METRICS_DOWNLOAD, **key}),
    ], className="d-flex align-items-center px-2 pt-2")
    graph = dcc.Graph(id={"type": ids.METRICS_GRAPH, **key}, config=GRAPH_CONFIG,
                      figure=figure, style={"height": f"{GRAPH_HEIGHT}px"})
    # What a live chart holds (query.live.record), sent back so a refresh can patch it.
    held = dcc.Store(id={"type": ids.METRICS_HELD, **key}, data=holds)
    return [header, held, html.Div(notices, id={"type": ids.METRICS_NOTICE, **key},
                                   className="px-2"),
            dcc.Loading(graph, delay_show=400, overlay_style={"visibility": "visible",
                                                              "opacity": 0.6}),
            html.Div(below, id={"type": ids.METRICS_BELOW, **key})]


def panels_notice(shown: int, offered: int, error=None):
    """Which seeds are shown, and why the others are not."""
    if error is not None:
        return dbc.Alert(f"Could not list metric names, so every panel is shown: "
                         f"{error.describe()}", color="warning", className="py-1 small")
    if shown == offered:
        return None
    return html.Div(f"{shown} of {offered} preset panels shown: the others' metrics do not "
                    "exist in Prometheus.", className="small text-muted mb-2")


# --- charts ---------------------------------------------------------------------------------


def unit_label(unit: str) -> str:
    """The unit as written next to a title and on the axis."""
    return {"percentunit": "%", "bytes": "B"}.get(unit, unit)


def axis_format(unit: str) -> dict:
    """Plotly y-axis settings that print ``unit`` on every tick."""
    if unit == "percentunit":
        return {"tickformat": ".3~%", "hoverformat": ".3~%"}
    if unit in ("bytes", "B", "B/s", "bytes/s", "s"):
        suffix = {"bytes": "B", "bytes/s": "B/s"}.get(unit, unit)
        return {"tickformat": "~s", "ticksuffix": suffix, "hoverformat": ".3~s"}
    if unit == "%":
        return {"ticksuffix": "%", "hoverformat": ".2f"}
    return {"tickformat": "~g", "hoverformat": ".4~g", "title": {"text": unit}}


def legend_name(fmt: str, labels: Mapping[str, str], series: str) -> str:
    """Grafana's legend format: "{{instance}} {{mode}}" from the labels; else the series."""
    if not fmt:
        return series
    text = re.sub(r"\{\{\s*([^}\s]+)\s*\}\}", lambda m: str(labels.get(m.group(1), "")), fmt)
    return text.strip() or series


def empty_figure(text: str) -> dict:
    """A blank chart saying why it is blank."""
    return {"data": [], "layout": {
        **_base_layout(), "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "annotations": [{"text": chart.plain_text(text), "showarrow": False, "xref": "paper",
                         "yref": "paper", "x": 0.5, "y": 0.5,
                         "font": {"color": "#6c757d", "size": 14}}]}}


def _base_layout() -> dict:
    return {"margin": {"l": 56, "r": 12, "t": 8, "b": 36}, "paper_bgcolor": "white",
            "plot_bgcolor": "white", "font": {"size": 11}, "colorway": list(COLOURS),
            "hovermode": "x", "dragmode": "zoom", "showlegend": True,
            "legend": {"orientation": "h", "y": -0.18, "font": {"size": 10}}}


def figure(frame, window: Window, *, unit: str = "", legend: str = "",
           revision: str = "", y: YAxis | None = None,
           legend_shown: bool = True, reach: float | None = None) -> tuple[dict, list[str]]:
    """The chart of a metric frame over ``window``, and notes on what it leaves out.

    ``reach``: where the x range ends when a live range's latest point is past the window's
    end (``callbacks.latest_point``).
    """
    if frame.empty:
        return empty_figure("no data for this range"), []
    drawn, notes = chart.lines(frame, window.points, window.step)
    return _figure(drawn, window, unit, legend, revision, plain=False, y=y,
                   legend_shown=legend_shown, reach=reach), notes


def live_chart(frame, window: Window, held, *, unit: str = "", legend: str = "",
               revision: str = "", query: str = "", revise: float = 0.0,
               y: YAxis | None = None, legend_shown: bool = True,
               reach: float | None = None, zone: str = "UTC", browser: str = "UTC"):
    """A live panel's chart: a ``Patch`` of the one the browser ``held`` when only points
    changed, else the whole figure; its notes; and the record of what the browser then holds.

    Live figures carry plain lists (a patch can extend a list, not base64 typed arrays).
    The patch is ``no_update`` when nothing changed (a refresh within the same step).
    The latest point past the window's end (at ``reach``) is newer than the window's end,
    so it is among the points re-sent on every refresh: a moved one is replaced, not kept.
    The figure is in UTC (``layouts.time_axis.localized`` puts it on ``zone``'s clock for a
    browser on ``browser``'s); the patch's points are already on it. The record keeps UTC.
    """
    if frame.empty:
        return empty_figure("no data for this range"), [], None
    drawn, notes = chart.lines(frame, window.points, window.step)
    fig = _figure(drawn, window, unit, legend, revision, plain=True, y=y,
                  legend_shown=legend_shown, reach=reach)
    styles = [{k: v for k, v in t.items() if k not in ("x", "y")} for t in fig["data"]]
    layout = {k: v for k, v in fig["layout"].items() if k != "xaxis"}
    sig = live.signature(query, window.step, styles, layout, zone, browser)
    lines = [(line.x, line.y) for line in drawn]
    now = live.record(sig, window.start, window.end, lines, revise, reach=reach)
    changes = live.edits(held, now, lines)
    if changes is None:
        return fig, notes, now
    moved = [held.get(k) for k in ("start", "end", "reach")] != [now[k] for k in (
        "start", "end", "reach")]
    if not moved and all(e.empty for e in changes):
        return no_update, notes, no_update
    return (_patch(changes, _include(window, reach) if moved else None, zone, browser),
            notes, now)


def _patch(changes: Sequence[live.Edit], include: list[float] | None,
           zone: str = "UTC", browser: str = "UTC") -> Patch:
    patch = Patch()
    for i, edit in enumerate(changes):
        trace = patch["data"][i]
        for axis, values in (("x", edit.x), ("y", edit.y)):
            for _ in range(edit.right):
                del trace[axis][-1]
            for _ in range(edit.left):
                del trace[axis][0]
            if len(values):
                trace[axis].extend(time_axis.moved(values.tolist(), zone, browser)
                                   if axis == "x" else values.tolist())
    if include is not None:
        patch["layout"]["xaxis"]["autorangeoptions"]["include"] = time_axis.moved(
            include, zone, browser)
    return patch


def _figure(drawn: Sequence[chart.Line], window: Window, unit: str, legend: str,
            revision: str, plain: bool, y: YAxis | None = None,
            legend_shown: bool = True, reach: float | None = None) -> dict:
    gl = len(drawn) > GL_SERIES or sum(len(line.x) for line in drawn) > GL_POINTS
    # Label values are untrusted text: escaped, never rendered as plotly's HTML subset.
    traces = [_trace(chart.plain_text(legend_name(legend, line.labels, line.series)), line, gl,
                     plain) for line in drawn]
    layout = {**_base_layout(), "uirevision": revision, "showlegend": legend_shown,
              "xaxis": _time_axis(window, reach),
              # y is fixed so a drag zooms time only; from zero, so noise does not look big
              "yaxis": {**axis_format(unit), "fixedrange": True, "rangemode": "tozero",
                        "gridcolor": "#eef0f3", "zeroline": False}}
    return panel_axis.apply({"data": traces, "layout": layout}, y)


def _trace(name: str, line: chart.Line, gl: bool, plain: bool = False) -> dict:
    # A line needs two neighbouring points: markers keep a short or broken series visible.
    sparse = chart.finite_count(line.y) < SPARSE_POINTS
    x, y = (line.x.tolist(), line.y.tolist()) if plain else (chart.typed(line.x),
                                                             chart.typed(line.y))
    return {"type": "scattergl" if gl else "scatter", "mode": "lines+markers" if sparse
            else "lines", "name": name, "x": x, "y": y,
            "line": {"width": 1.5}, "marker": {"size": 4}, "connectgaps": False,
            "meta": line.series, "hovertemplate": "%{y}<extra>%{fullData.name}</extra>"}


def _time_axis(window: Window, reach: float | None = None) -> dict:
    # autorange (not a fixed range) so a double-click sends "autorange" and resets the range;
    # "include" still shows the whole window when data is missing at either end.
    return {"type": "date", "autorange": True, "gridcolor": "#eef0f3",
            "autorangeoptions": {"include": _include(window, reach)},
            "title": {"text": "UTC", "standoff": 4, "font": {"size": 10, "color": "#6c757d"}}}


def _include(window: Window, reach: float | None = None) -> list[float]:
    # A live range's latest point lies past the aligned window's end: the axis reaches it.
    return [window.start * 1000, max(window.end, reach or window.end) * 1000]


def notice(result, notes: Sequence[str] = ()):
    """A panel's notices: stale badge or upstream error, then Prometheus warnings and notes."""
    parts = [result_notice(result)]
    frame = result.value if result is not None else None
    warnings = list(frame.attrs.get("warnings", [])) if frame is not None else []
    if frame is None and result is not None:  # an error body's warnings are shown too
        warnings = list(getattr(result.error, "warnings", None) or [])
    parts += [html.Div(w, className="metrics-warning small text-warning-emphasis")
              for w in warnings]
    parts += [html.Div(n, className="metrics-note small text-muted") for n in notes]
    return [p for p in parts if p is not None]


def suggestion_options(suggestions: Sequence[str]):
    """<option>s for the query box's datalist."""
    return [html.Option(value=s) for s in suggestions]

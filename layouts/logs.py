"""Logs tab: LogQL editor with a label browser, volume histogram, log table and CSV export."""

from __future__ import annotations

from collections.abc import Sequence

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from config import Config
from layouts import ids
from layouts.common import graph_config
from layouts.range_picker import range_picker
from query.chart import plain_text
from query.limits import MAX_TEXT
from query.log_queries import LogQuery, predefined
from query.log_view import (
    JSON,
    LABEL,
    MESSAGE,
    ROW_ID,
    SERVICE,
    STREAM,
    TIME,
    span_axis,
    volume_bars,
)
from query.logql import is_label_name
from query.timerange import human_duration

#: One colour per canonical level, shared by the histogram's bars and the table's level cells.
LEVEL_COLOURS = {
    "critical": "#842029", "error": "#dc3545", "warning": "#fd7e14", "info": "#198754",
    "debug": "#0d6efd", "trace": "#6f42c1", "unknown": "#adb5bd",
}
PREFIX = "logs"  # the range picker's id prefix
#: Loki's default max_entries_limit_per_query (the default of ``logs.max_limit``)
MAX_LIMIT = 5000
#: A label such as a request id can have thousands of values; buttons stop here.
MAX_LABEL_VALUES = 200
DIRECTIONS = (("Newest first", "backward"), ("Oldest first", "forward"))


def layout(config: Config):
    """The Logs tab's frame; rows, bars and errors arrive from the callbacks."""
    return html.Div([
        dcc.Store(id=ids.LOGS_REQUEST),
        dcc.Store(id=ids.LOGS_SHOWN),
        dcc.Store(id=ids.LOGS_TOTAL),
        dcc.Store(id=ids.LOGS_AVAILABLE, data=[]),
        dcc.Store(id=ids.LOGS_NUMERIC, data=[]),
        dcc.Download(id=ids.LOGS_DOWNLOAD),
        range_picker(PREFIX, refresh_seconds=config.refresh.logs),
        dbc.Row([
            dbc.Col(editor(config), lg=8, className="mb-3"),
            dbc.Col(label_browser(), lg=4, className="mb-3"),
        ]),
        html.Div(id=ids.LOGS_NOTICE),
        volume_panel(),
        table_panel(),
    ], className="logs-tab mt-3")


def editor(config: Config):
    """Predefined queries, the LogQL box with the upstream's error under it, and controls."""
    presets = predefined(config.log_queries)
    top = dbc.Row([
        dbc.Col(dcc.Dropdown(id=ids.LOGS_PRESET, options=preset_options(presets),
                             value=presets[0].query, clearable=False,
                             placeholder="Predefined queries"), md=7),
        dbc.Col(dbc.Input(id=ids.LOGS_REQUEST_ID, placeholder="request_id for a trace query",
                          debounce=True, size="sm", className="h-100"), md=5),
    ], className="g-2 mb-2")
    query = dbc.Textarea(id=ids.LOGS_QUERY, value=presets[0].query, rows=3, spellCheck=False,
                         className="logs-query font-monospace",
                         placeholder='LogQL, e.g. {job="api"} |= "error"')
    return dbc.Card(dbc.CardBody([
        html.H6("LogQL query", className="card-title"),
        top,
        query,
        html.Div(id=ids.LOGS_QUERY_ERROR, className="logs-query-error"),
        controls(config),
        export_controls(),
    ]))


#: The preset menu's value once the query text is no longer a preset's.
CUSTOM = "\x00custom"


def preset_options(presets: Sequence[LogQuery]) -> list[dict]:
    """Dropdown options: the name shown, the query as the value; then 'custom', shown (not
    picked) when the text was edited away from every preset."""
    return [*({"label": p.name, "value": p.query, "title": p.query} for p in presets),
            {"label": "custom", "value": CUSTOM, "disabled": True,
             "title": "the query box no longer holds a predefined query"}]


def preset_of(query, presets: Sequence[LogQuery]) -> str:
    """The menu value for the text in the query box: its preset, else ``CUSTOM``."""
    return next((p.query for p in presets if p.query == query), CUSTOM)


def controls(config: Config):
    """Limit, direction and Run (live refresh is the range picker's)."""
    # No min/max on the box: the browser would turn 0 or 5 001 into "no value" and the
    # default would run unannounced; the server checks the number and says what is allowed.
    limit = dbc.InputGroup([
        dbc.InputGroupText("Limit"),
        dbc.Input(id=ids.LOGS_LIMIT, type="number", step=1,
                  value=min(config.logs.limit, config.logs.max_limit), debounce=True,
                  className="logs-limit"),
    ], size="sm", className="w-auto")
    limit_error = html.Span(id=ids.LOGS_LIMIT_ERROR, className="logs-limit-error small "
                                                              "text-danger")
    direction = dbc.RadioItems(
        id=ids.LOGS_DIRECTION, inline=True, value="backward", className="small",
        options=[{"label": label, "value": value} for label, value in DIRECTIONS])
    return html.Div([
        limit, limit_error, direction,
        dbc.Button("Run query", id=ids.LOGS_RUN, color="primary", size="sm", n_clicks=0),
    ], className="logs-controls d-flex flex-wrap align-items-center gap-3 mt-2")


def export_controls():
    """Export of the whole range, its progress bar and Cancel."""
    return html.Div([
        dbc.Button("Export CSV (whole range)", id=ids.LOGS_EXPORT, color="secondary",
                   outline=True, size="sm", n_clicks=0),
        dbc.Button("Cancel", id=ids.LOGS_EXPORT_CANCEL, color="danger", outline=True,
                   size="sm", n_clicks=0, disabled=True),
        html.Span(id=ids.LOGS_EXPORT_QUEUE, className="logs-export-queue small text-muted",
                  style={"display": "none"}),
        dbc.Progress(id=ids.LOGS_EXPORT_PROGRESS, value=0, striped=True, animated=True,
                     className="logs-export-progress flex-grow-1", style={"display": "none"}),
        html.Span(id=ids.LOGS_EXPORT_RATE, className="logs-export-rate small",
                  style={"display": "none"}),
        html.Span(id=ids.LOGS_EXPORT_STATUS, className="small text-muted"),
        dcc.Store(id=ids.LOGS_EXPORT_FILE),
    ], className="d-flex flex-wrap align-items-center gap-2 mt-3")


def label_browser():
    """Label names → their values; clicking a value adds it to the query's selector."""
    return dbc.Card(dbc.CardBody([
        html.H6("Label browser", className="card-title"),
        dcc.Dropdown(id=ids.LOGS_LABEL_NAME, placeholder="Choose a label…", options=[]),
        html.Div("Click a value to add it to the query's stream selector.",
                 className="text-muted small mt-2"),
        html.Div(id=ids.LOGS_LABEL_VALUES, className="logs-label-values mt-1"),
    ]), className="h-100")


def volume_panel():
    """The log-volume histogram over the whole range and the 'showing N of M' line."""
    graph = dcc.Graph(id=ids.LOGS_VOLUME, figure=volume_figure(None),
                      config=graph_config(displayModeBar=False), className="logs-volume")
    return html.Div([
        html.Div([
            html.H6("Log volume", className="mb-0 me-3"),
            html.Span(id=ids.LOGS_COUNT, className="logs-count small"),
            html.Span(id=ids.LOGS_VOLUME_NOTE, className="small text-muted ms-3"),
        ], className="d-flex align-items-baseline"),
        dcc.Loading(graph, type="dot", delay_show=400),
    ], className="mb-2")


def table_panel():
    """Quick search, the column chooser and the grid."""
    tools = dbc.Row([
        dbc.Col(dbc.Input(id=ids.LOGS_SEARCH, placeholder="Search the rows shown…",
                          type="search", size="sm"), md=4),
        dbc.Col(dcc.Dropdown(id=ids.LOGS_COLUMNS, multi=True, options=[], value=[],
                             placeholder="More columns: labels and JSON fields…"), md=8),
    ], className="g-2 mb-2")
    grid = dag.AgGrid(
        id=ids.LOGS_GRID, rowData=[], columnDefs=column_defs([], []),
        defaultColDef={"sortable": True, "filter": True, "resizable": True},
        # Stable row ids let a refresh update rows in place; assets/logs.js then keeps the
        # reader's first visible row where it was (unless the reader is at the top).
        getRowId=f"params.data[{ROW_ID!r}]",
        eventListeners={"bodyScroll": ["stackscopeLogsRememberPlace(params)"],
                        "rowDataUpdated": ["stackscopeLogsKeepPlace(params)"]},
        dashGridOptions={
            "theme": "themeBalham", "animateRows": False, "enableCellTextSelection": True,
            # Community AG Grid has no master/detail: a click selects the row and the
            # details panel under the grid shows it.
            "rowSelection": {"mode": "singleRow", "checkboxes": False,
                             "enableClickSelection": True},
            "suppressFieldDotNotation": True, "rowBuffer": 20, "quickFilterText": "",
            "localeText": {"noRowsToShow": "No log entries for this query and range."},
        },
        style={"height": "560px"}, className="logs-grid")
    details = html.Div(row_details_hint(), id=ids.LOGS_DETAILS, className="logs-details mt-2")
    return html.Div([tools, dcc.Loading(grid, type="dot", delay_show=400), details])


# --- rendering helpers (pure) ---------------------------------------------------------------

def level_cell_style() -> dict:
    """AG Grid style conditions colouring the level cell like the histogram's bars."""
    return {"styleConditions": [
        {"condition": f"params.value === '{level}'",
         "style": {"backgroundColor": colour, "color": "white", "fontWeight": "600"}}
        for level, colour in LEVEL_COLOURS.items()]}


def column_defs(available: Sequence[str], shown: Sequence[str],
                numeric: Sequence[str] = ()) -> list[dict]:
    """Time, level, service, message, then every other column, hidden unless chosen;
    ``numeric`` columns are typed numbers (number filter, right-aligned)."""
    base = [
        {"field": TIME, "headerName": "Time (UTC)", "width": 255,
         "cellClass": "font-monospace"},
        {"field": "level", "headerName": "Level", "width": 100,
         "cellStyle": level_cell_style()},
        {"field": SERVICE, "headerName": "Service", "width": 140},
        {"field": MESSAGE, "headerName": "Message", "flex": 1, "minWidth": 300,
         "tooltipField": MESSAGE},
    ]
    chosen, numbers = set(shown), set(numeric)
    extra = [{"field": name, "headerName": name, "hide": name not in chosen, "width": 170,
              **(NUMBER_COLUMN if name in numbers else TEXT_COLUMN)}
             for name in available]
    return base + extra


NUMBER_COLUMN = {"cellDataType": "number", "filter": "agNumberColumnFilter",
                 "type": "rightAligned"}
TEXT_COLUMN = {"cellDataType": "text", "filter": "agTextColumnFilter"}


METRIC_QUERY_TEXT = ("This is a metric query: the Logs tab lists log lines, so start the "
                     'query with a stream selector such as {job="api"}.')


def volume_figure(frame=None, note: str = "", span_ns: tuple[int, int] | None = None) -> go.Figure:
    """Stacked bars of entries per bucket, one trace per level, over the whole ``span_ns``."""
    fig = go.Figure()
    bars = volume_bars(frame)
    for level, x, y in bars:
        text = plain_text(level)
        fig.add_bar(x=x, y=y, name=text,
                    marker_color=LEVEL_COLOURS.get(level, LEVEL_COLOURS["unknown"]),
                    hovertemplate="%{x}<br>%{y:,.0f} " + text + " entries<extra></extra>")
    if bars and span_ns:
        fig.update_xaxes(range=span_axis(span_ns))
    if not bars:
        fig.add_annotation(text=plain_text(note or "no log entries in this range"),
                           showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5,
                           font={"color": "#6c757d"})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    fig.update_layout(barmode="stack", bargap=0.1, height=170, template="plotly_white",
                      margin={"l": 50, "r": 10, "t": 10, "b": 30}, showlegend=True,
                      legend={"orientation": "h", "y": 1.15, "x": 0, "traceorder": "normal"},
                      yaxis={"title": "entries", "rangemode": "tozero"})
    return fig


def volume_note(frame, stale: bool = False) -> str:
    """The bucket width, so a bar's height reads as entries per that much time."""
    step = frame.attrs.get("step_s")
    text = f"bars of {human_duration(step)}" if step else ""
    note = frame.attrs.get("note")
    return text + (f"; {note}" if note else "") + (" (stale)" if stale else "")


def count_text(shown: int | None, limit: int | None, total: int | None) -> str:
    """'showing N of M entries' when the limit cut the rows, else 'N entries'."""
    if shown is None:
        return ""
    if limit and shown >= limit and total is not None and total > shown:
        return f"showing {shown:,} of {total:,} entries (limit {limit:,})"
    return f"{shown:,} entr{'y' if shown == 1 else 'ies'}"


def column_options(available: Sequence[str]) -> list[dict]:
    """The column chooser's options."""
    return [{"label": name, "value": name} for name in available]


def warnings(frame):
    """Loki's warnings for the query, if it sent any."""
    found = frame.attrs.get("warnings") or []
    if not found:
        return None
    return dbc.Alert([html.Strong("Loki warns: "), "; ".join(found)], color="warning",
                     className="py-2 mt-2 mb-0 small")


# --- the label browser ---------------------------------------------------------------------

def label_options(names: Sequence[str]) -> list[dict]:
    """Label names for the browser, Loki's internal ``__…__`` names left out."""
    return [{"label": n, "value": n} for n in names if not n.startswith("__")]


def label_value_buttons(name: str | None, values: Sequence[str],
                        most: int = MAX_LABEL_VALUES):
    """One small button per value; the callback inserts ``{name="value"}`` when clicked."""
    if not name:
        return None
    if not values:
        return html.Div(f"No values for {name} in this range.", className="text-muted small")
    buttons = [dbc.Button(v or '""', id={"type": ids.LOGS_LABEL_VALUE, "name": name, "value": v},
                          color="light", size="sm", n_clicks=0,
                          className="logs-label-value me-1 mb-1", title=f'{name}="{v}"')
               for v in values[:most]]
    if len(values) > most:
        buttons.append(html.Div(f"first {most} of {len(values):,} values",
                                className="text-muted small"))
    return buttons


# --- row details ----------------------------------------------------------------------------

FIELD_KINDS = {STREAM: "stream label", JSON: "JSON field", LABEL: "label"}


def row_details_hint():
    """What the details panel says before a row is chosen."""
    return html.Div("Click a row to see every label and field, its JSON and the lines around "
                    "it in its stream.", className="text-muted small")


def row_details(row: dict, fields, pretty: str | None, context=None, context_note: str = ""):
    """The chosen entry: labels and fields with filter buttons, its JSON, its context."""
    parts = [html.H6(f"Entry at {row.get(TIME, '')} UTC", className="card-title"),
             fields_table(fields)]
    if pretty:
        parts += [html.Div("JSON", className="fw-semibold small mt-2"),
                  html.Pre(pretty, className="logs-details-json small mb-0")]
    parts += [html.Div("Context: the lines around it in its stream", className="fw-semibold "
                       "small mt-2"), context_lines(context or [], row.get(ROW_ID), context_note)]
    return dbc.Card(dbc.CardBody(parts), className="logs-details-card")


def fields_table(fields):
    """One row per (kind, name, value), with a button that filters the query on it."""
    rows = [html.Tr([html.Td(FIELD_KINDS[kind], className="text-muted"),
                     html.Td(name, className="font-monospace"),
                     html.Td(value, className="font-monospace logs-details-value"),
                     html.Td(filter_button(kind, name, value))])
            for kind, name, value in fields]
    return dbc.Table(html.Tbody(rows), size="sm", borderless=True,
                     className="logs-details-fields small mb-0")


def filter_button(kind: str, name: str, value: str):
    """'filter': adds ``name="value"`` to the query (a matcher for a stream label)."""
    if not is_label_name(name) or len(value) > MAX_TEXT:
        return None
    what = f'{name}="{value}"'
    return dbc.Button("filter", id={"type": ids.LOGS_FIELD_FILTER, "kind": kind, "name": name,
                                    "value": value},
                      color="link", size="sm", n_clicks=0, className="p-0 logs-field-filter",
                      title=f"add {what} to the query")


def context_lines(rows, this_id, note: str = ""):
    """The lines before and after the entry, oldest first, the entry itself marked."""
    if note:
        return html.Div(note, className="small text-muted logs-context")
    if not rows:
        return html.Div("No other lines within an hour in this stream.",
                        className="small text-muted logs-context")
    return html.Div([html.Div([html.Span(r[TIME], className="text-muted me-2"),
                               html.Span(r["level"], className="me-2"),
                               html.Span(r["line"], className="logs-context-text")],
                              className="logs-context-line" + (
                                  " logs-context-this" if r[ROW_ID] == this_id else ""))
                     for r in rows], className="logs-context font-monospace small")


# --- notices --------------------------------------------------------------------------------

def input_error(text: str):
    """A problem with what was typed (range, request_id), before Loki was asked."""
    return dbc.Alert(text, color="warning", className="py-2 mt-2 mb-0 small")


def query_error(message: str | None):
    """Loki's own words under the editor when it rejected the query (None: nothing to say)."""
    if message is None:
        return None
    return dbc.Alert([html.Strong("Loki rejected the query: "),
                      html.Span(message, className="upstream-error")],
                     color="danger", className="py-2 mt-2 mb-0 small")


def loki_unavailable(detail: str, url: str):
    """Plain words when Loki cannot be reached, and how to point stackscope at one."""
    where = f"at {url}" if url else "(no loki.url configured)"
    return dbc.Alert([
        html.H6(f"Loki is not reachable {where}", className="alert-heading"),
        html.Div(detail, className="upstream-error small"),
        html.Div(["Point stackscope at your Loki with ", html.Code("loki.url"),
                  " in the configuration file or the ", html.Code("STACKSCOPE_LOKI_URL"),
                  " environment variable."], className="small mt-1"),
    ], color="warning", className="logs-unreachable")


# --- export ---------------------------------------------------------------------------------

def progress_label(p) -> str:
    """The text on the progress bar: rows so far and the rate (an ``export_job.Progress``)."""
    return f"{p.rows:,} rows · {p.rate:,.0f}/s"


def export_done(summary, name: str, href: str | None = None):
    """What the export wrote (an ``ExportSummary``), next to the button; a link when large."""
    text = f"Exported {summary.rows:,} entries, {len(summary.columns)} columns: "
    target = html.A(name, href=href, download=name) if href else name
    return html.Span([text, target], className="text-success")


def export_cancelled(removed: bool):
    """What Cancel says once the export's worker is stopped."""
    text = "Export cancelled" + ("; its partial file was removed." if removed else ".")
    return html.Span(text, className="text-muted logs-export-cancelled")


def queued_text(ahead: int) -> str:
    """What a waiting export says: how many exports are ahead of it."""
    return f"queued ({ahead} ahead)"


def export_failed(text: str):
    """Why the export stopped, in the upstream's words."""
    return html.Span(f"Export failed: {text}", className="text-danger upstream-error")

"""Logs tab callbacks: run → (table, volume, labels), the label browser, columns, export.

A run resolves the range once into a request (``LOGS_REQUEST``) that the table, the volume
histogram and the label browser all read, so "showing N of M" compares like with like.
"""

from __future__ import annotations

import time
from pathlib import Path

from dash import ALL, Input, Output, Patch, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

import telemetry
from callbacks import range_picker as picker
from callbacks import session
from datasources import export_job
from datasources.errors import DatasourceError, QueryError, Unreachable
from datasources.http import display_url
from layouts import ids
from layouts import logs as view
from layouts.common import result_notice
from query import limits, log_view, logql
from query import range_state as rp
from query.log_queries import expand, predefined
from query.timerange import plan

STATE = ids.range_id(view.PREFIX, ids.RANGE_STATE)
INTERVAL = ids.range_id(view.PREFIX, ids.RANGE_INTERVAL)
ZOOM = ids.range_id(view.PREFIX, ids.RANGE_ZOOM)
#: bars in the volume histogram over any range
VOLUME_BARS = 120


def register(app, deps) -> None:
    """Wire the Logs tab."""
    picker.register(app, view.PREFIX, deps.config.refresh.logs)
    _register_run(app, deps)
    _register_table(app, deps)
    _register_volume(app, deps)
    _register_labels(app, deps)
    _register_editor(app, deps)
    _register_limit(app, deps)
    _register_grid_tools(app)
    _register_details(app, deps)
    _register_export(app, deps)


# --- run ----------------------------------------------------------------------------------

def _register_run(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_REQUEST, "data"),
        Input(ids.TABS, "value"),
        Input(ids.LOGS_RUN, "n_clicks"),
        Input(ids.LOGS_PRESET, "value"),
        Input(STATE, "data"),
        Input(INTERVAL, "n_intervals"),
        Input(ids.LOGS_LIMIT, "value"),
        Input(ids.LOGS_DIRECTION, "value"),
        State(ids.LOGS_QUERY, "value"),
        State(ids.LOGS_REQUEST_ID, "value"),
        State(ids.LOGS_REQUEST, "data"),
    )
    def run(tab, _clicks, preset, state, _tick, limit, direction, query, request_id, last):
        # A link may set the range and click Run at once (an exemplar): the Run click wins.
        ran = f"{ids.LOGS_RUN}.n_clicks" in ctx.triggered_prop_ids
        trigger = ids.LOGS_RUN if ran else ctx.triggered_id
        last = last if isinstance(last, dict) else None
        if tab != "logs" or (trigger == ids.TABS and last):
            raise PreventUpdate  # nothing is asked of Loki until the tab is first shown
        if trigger == ids.LOGS_PRESET and preset == view.CUSTOM:
            raise PreventUpdate  # the menu follows an edited text: nothing new to run
        text, rid = run_source(trigger, preset, query, request_id, last)
        cfg = deps.config.logs
        return request(text, rid, state, limit, direction, default_limit=cfg.limit,
                       max_limit=cfg.max_limit, max_range=cfg.max_range,
                       force=trigger == ids.LOGS_RUN, live=trigger == INTERVAL)


def run_source(trigger, preset, query, request_id, last) -> tuple[str | None, str | None]:
    """The query text and request_id a run uses.

    Only Run and a preset pick take what is in the boxes; a refresh tick or a new range,
    limit or direction re-runs the last request's query, so half-typed edits are not sent.
    """
    if trigger in (ids.LOGS_RUN, ids.LOGS_PRESET) or not last:
        return (preset if trigger == ids.LOGS_PRESET and preset else query), request_id
    return last.get("text"), last.get("request_id")


def request(query, request_id, state, limit, direction, *, default_limit: int,
            max_limit: int = view.MAX_LIMIT, max_range: float = float("inf"), force=False,
            live=False, now=None) -> dict:
    """The run's parameters with the range resolved once; ``error`` when it cannot run.

    ``text`` and ``request_id`` keep what was asked, for ``run_source`` to repeat it. Every
    value comes from the browser: each is checked here, and each reader checks the request
    again (``limits.logs_request``), since it travels back through a dcc.Store.
    """
    base = {"at": time.time(), "force": force, "live": live,
            "direction": direction if direction in limits.DIRECTIONS else "backward",
            "limit": limits.clamp(limit, "limit", 1, max_limit,
                                  default=min(default_limit, max_limit)),
            "text": query if isinstance(query, str) else None,
            "request_id": request_id if isinstance(request_id, str) else None}
    try:
        typed = limits.text(query, "query", most=limits.MAX_QUERY).strip()
        text = expand(typed, limits.text(request_id, "request_id"))
        start, end = rp.window(rp.checked(state), now)
        limits.span(start, end, max_range, "logs.max_range")
    except ValueError as exc:
        return {**base, "error": str(exc)}
    problem = limits.limit_problem(limit, max_limit)
    if problem:
        return {**base, "error": problem}
    if not text:
        return {**base, "error": "type a LogQL query, or pick one from the list"}
    if not logql.is_log_query(text):
        # Every reader of the request wants log lines: stop here rather than have each
        # ask Loki and throw the matrix away.
        return {**base, "error": view.METRIC_QUERY_TEXT}
    return {**base, "query": text, "start_ns": round(start * 1e9), "end_ns": round(end * 1e9)}


def checked(deps, req) -> dict:
    """A Logs request read back from the browser, checked and clamped to ``[logs]``."""
    cfg = deps.config.logs
    return limits.logs_request(req, max_limit=cfg.max_limit, max_range=cfg.max_range)


def admitted(deps, req, reader: str) -> tuple[dict, bool]:
    """A request read back from its store, checked, clamped to the config and within this
    browser's query budget; and whether it may skip the cache. ``Rejected`` says why not."""
    req = checked(deps, req)
    if req.get("error"):
        return req, False
    wait = session.query_wait(deps.limiter, deps.config)
    if wait:
        raise limits.Rejected(wait)
    return req, req["force"] and session.may_force(deps.limiter, deps.config, reader)


# --- table --------------------------------------------------------------------------------

def _register_table(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_GRID, "rowData"),
        Output(ids.LOGS_AVAILABLE, "data"),
        Output(ids.LOGS_NUMERIC, "data"),
        Output(ids.LOGS_SHOWN, "data"),
        Output(ids.LOGS_NOTICE, "children"),
        Output(ids.LOGS_QUERY_ERROR, "children"),
        Input(ids.LOGS_REQUEST, "data"),
    )
    def table(req):
        if not req:
            raise PreventUpdate
        try:
            req, force = admitted(deps, req, "table")
        except limits.Rejected as exc:
            return no_update, no_update, no_update, None, None, view.input_error(str(exc))
        if req.get("error"):
            return no_update, no_update, no_update, None, None, view.input_error(req["error"])
        result = deps.loki.query_range(req["query"], req["start_ns"], req["end_ns"],
                                       limit=req["limit"], direction=req["direction"],
                                       force=force)
        if result.value is None:
            return ([], [], [], None, trouble_notice(result, deps.config.loki.url),
                    view.query_error(rejection(result.error)))
        if not log_view.is_log_frame(result.value):
            return [], [], [], None, None, view.input_error(view.METRIC_QUERY_TEXT)
        frame = log_view.redacted(result.value, deps.config.redact)
        shown = {"at": req["at"], "n": len(frame), "limit": req["limit"]}
        return (log_view.row_data(frame), log_view.extra_columns(frame),
                log_view.numeric_columns(frame), shown, result_notice(result),
                view.warnings(frame))


def trouble_notice(result, loki_url: str):
    """The notice for a failed run: Loki down in plain words, else the usual notice."""
    if isinstance(result.error, Unreachable):
        # The page must never show the user:password@ a URL may carry.
        return view.loki_unavailable(result.error.describe(), display_url(loki_url))
    # Loki's rejection is shown under the editor (``query_error``), not twice.
    return None if isinstance(result.error, QueryError) else result_notice(result)


def rejection(error: DatasourceError | None) -> str | None:
    """Loki's words when it rejected the query; None for any other outcome."""
    return error.message if isinstance(error, QueryError) else None


# --- volume -------------------------------------------------------------------------------

def _register_volume(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_VOLUME, "figure"),
        Output(ids.LOGS_TOTAL, "data"),
        Output(ids.LOGS_VOLUME_NOTE, "children"),
        Input(ids.LOGS_REQUEST, "data"),
    )
    def volume(req):
        if not req:
            raise PreventUpdate
        try:
            req, force = admitted(deps, req, "volume")
        except limits.Rejected as exc:
            return view.volume_figure(None, "no volume: the request was refused"), None, str(exc)
        if req.get("error"):
            return view.volume_figure(None, "no query run"), None, ""
        step = plan(req["start_ns"] / 1e9, req["end_ns"] / 1e9,
                    max_data_points=VOLUME_BARS).step
        result = deps.loki.volume(req["query"], req["start_ns"], req["end_ns"], step,
                                  force=force)
        if result.value is None:
            return view.volume_figure(None, "no volume: the query failed"), None, ""
        total = {"at": req["at"], "m": log_view.volume_total(result.value)}
        span = (req["start_ns"], req["end_ns"])
        return (view.volume_figure(result.value, span_ns=span), total,
                view.volume_note(result.value, result.stale))

    @app.callback(
        Output(ids.LOGS_COUNT, "children"),
        Input(ids.LOGS_SHOWN, "data"),
        Input(ids.LOGS_TOTAL, "data"),
    )
    def count(shown, total):
        if not shown:
            return ""
        shown, total = limits.mapping(shown, "shown"), total if isinstance(total, dict) else {}
        n = limits.clamp(shown.get("n"), "shown", 0, 10**12)
        limit = limits.clamp(shown.get("limit"), "limit", 0, 10**12, default=0)
        m = total.get("m") if total.get("at") == shown.get("at") else None
        m = limits.clamp(m, "total", 0, 10**15) if m is not None else None
        return view.count_text(n, limit, m)

    @app.callback(
        Output(ZOOM, "data"),
        Input(ids.LOGS_VOLUME, "relayoutData"),
        prevent_initial_call=True,
    )
    def zoom(relayout):
        wanted = rp.zoom_from_relayout(relayout)
        if not wanted:
            raise PreventUpdate
        return {**wanted, "at": time.time()}


# --- label browser and editor -------------------------------------------------------------

def _register_labels(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_LABEL_NAME, "options"),
        Input(ids.LOGS_REQUEST, "data"),
    )
    def names(req):
        if not req:
            raise PreventUpdate
        req = checked(deps, req)
        if req.get("error") or req["live"] or session.query_wait(deps.limiter, deps.config):
            raise PreventUpdate  # a refused request already says why under the editor
        result = deps.loki.label_names(req["start_ns"], req["end_ns"])
        return view.label_options(result.value or [])

    @app.callback(
        Output(ids.LOGS_LABEL_VALUES, "children"),
        Input(ids.LOGS_LABEL_NAME, "value"),
        State(ids.LOGS_REQUEST, "data"),
    )
    def values(name, req):
        name = limits.text(name, "label name")
        if not name:
            return None
        window = ()
        if req:
            req = checked(deps, req)
            window = (req["start_ns"], req["end_ns"]) if not req.get("error") else ()
        result = deps.loki.label_values(name, *window)
        if result.value is None:
            return view.query_error(rejection(result.error)) or result_notice(result)
        return view.label_value_buttons(name, result.value)


def _register_editor(app, deps) -> None:
    presets = predefined(deps.config.log_queries)

    @app.callback(
        Output(ids.LOGS_QUERY, "value"),
        Output(ids.LOGS_PRESET, "value"),
        Input(ids.LOGS_PRESET, "value"),
        Input({"type": ids.LOGS_LABEL_VALUE, "name": ALL, "value": ALL}, "n_clicks"),
        Input({"type": ids.LOGS_FIELD_FILTER, "kind": ALL, "name": ALL, "value": ALL},
              "n_clicks"),
        Input(ids.LOGS_QUERY, "value"),
        prevent_initial_call=True,
    )
    def edit(preset, _clicks, _filters, query):
        # One callback for the box and the menu: each follows the other, and Dash allows
        # such a loop only within one callback.
        trigger = ctx.triggered_id
        query = limits.text(query, "query", most=limits.MAX_QUERY)
        if trigger == ids.LOGS_PRESET:
            preset = limits.text(preset, "preset", most=limits.MAX_QUERY)
            return (no_update if preset in ("", view.CUSTOM, query) else preset), no_update
        if trigger == ids.LOGS_QUERY:
            text = query
        elif isinstance(trigger, dict) and ctx.triggered[0]["value"]:
            text = edited(query, trigger)
        else:
            raise PreventUpdate  # buttons just rendered, not clicked
        menu = view.preset_of(text, presets)
        return (no_update if text == query else text), (no_update if menu == preset else menu)


def edited(query: str, trigger: dict) -> str:
    """``query`` with the clicked label value or details field added."""
    name = limits.text(trigger.get("name"), "label name")
    value = limits.text(trigger.get("value"), "label value")
    if trigger.get("type") == ids.LOGS_FIELD_FILTER:
        return field_filter(query, trigger.get("kind"), name, value)
    return logql.with_matcher(query, name, value)


def _register_limit(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_LIMIT_ERROR, "children"),
        Output(ids.LOGS_LIMIT, "invalid"),
        Input(ids.LOGS_LIMIT, "value"),
    )
    def limit_note(limit):
        problem = limits.limit_problem(limit, deps.config.logs.max_limit)
        return problem or "", bool(problem)


def field_filter(query: str, kind, name: str, value: str) -> str:
    """``query`` narrowed to a details field's value: a stream matcher for a stream label,
    ``| json | name="value"`` for a JSON field, ``| name="value"`` for another label."""
    if kind == log_view.STREAM:
        return logql.with_matcher(query, name, value)
    try:
        return logql.with_label_filter(query, name, value,
                                       parser="json" if kind == log_view.JSON else None)
    except ValueError:
        raise PreventUpdate from None  # a forged name: nothing to add


# --- grid tools ---------------------------------------------------------------------------

def _register_grid_tools(app) -> None:
    @app.callback(
        Output(ids.LOGS_COLUMNS, "options"),
        Output(ids.LOGS_GRID, "columnDefs"),
        Input(ids.LOGS_AVAILABLE, "data"),
        Input(ids.LOGS_NUMERIC, "data"),
        Input(ids.LOGS_COLUMNS, "value"),
    )
    def columns(available, numeric, shown):
        available = limits.texts(available, "columns")
        return (view.column_options(available),
                view.column_defs(available, limits.texts(shown, "columns shown"),
                                 limits.texts(numeric, "numeric columns")))

    @app.callback(
        Output(ids.LOGS_GRID, "dashGridOptions"),
        Input(ids.LOGS_SEARCH, "value"),
        prevent_initial_call=True,
    )
    def search(text):
        patch = Patch()
        patch["quickFilterText"] = limits.text(text, "search")
        return patch


# --- row details ----------------------------------------------------------------------------

def _register_details(app, deps) -> None:
    @app.callback(
        Output(ids.LOGS_DETAILS, "children"),
        Input(ids.LOGS_GRID, "selectedRows"),
        prevent_initial_call=True,
    )
    def details(selected):
        return row_details(deps, selected)


def row_details(deps, selected):
    """The details panel of the grid's selected row, with its context asked of Loki."""
    if not selected:
        return view.row_details_hint()
    try:
        row = chosen_row(selected)
        fields = log_view.details_fields(row)
        rows, note = row_context(deps, row)
    except ValueError as exc:  # Rejected included: a forged or broken row
        return view.input_error(f"cannot show this entry: {exc}")
    return view.row_details(row, fields, log_view.pretty_json(row.get("line", "")), rows, note)


def chosen_row(selected) -> dict:
    """The one selected row, read back from the browser: short texts and numbers only."""
    if not isinstance(selected, list) or len(selected) != 1:
        raise limits.Rejected("expected one selected row")
    row = limits.mapping(selected[0], "row")
    if len(row) > MAX_ROW_KEYS:
        raise limits.Rejected(f"a row has at most {MAX_ROW_KEYS:,} labels and fields")
    out = {}
    for key, value in row.items():
        key = limits.text(key, "field name")
        out[key] = (limits.number(value, key) if isinstance(value, int | float)
                    else limits.text(value, key, most=MAX_LINE))
    return out


#: A grid row's keys and line, as long as the browser may send them back.
MAX_ROW_KEYS = 1_000
MAX_LINE = 1_000_000


def row_context(deps, row: dict) -> tuple[list[dict], str]:
    """(context rows, "") or ([], why there are none) for one grid row."""
    wait = session.query_wait(deps.limiter, deps.config)
    if wait:
        return [], wait
    labels = log_view.stream_labels(str(row.get("labels", "")))
    if not labels:
        return [], "This entry's stream has no labels to ask Loki for its context by."
    ns_text = str(row.get(log_view.NS, ""))
    if not (ns_text.isascii() and ns_text.isdigit() and len(ns_text) <= 19):
        raise limits.Rejected(f"time: {ns_text[:40]!r} is not nanoseconds")
    ns = limits.nanoseconds(int(ns_text), "time")
    frames = []
    for result in deps.loki.context(logql.stream_name(labels), ns):
        if result.value is None:
            return [], f"No context: {result.error.describe() if result.error else 'no answer'}"
        frames.append(log_view.redacted(result.value, deps.config.redact))
    return log_view.context_rows(*frames), ""


# --- export -------------------------------------------------------------------------------

#: exports larger than this are handed over as a link to ``export_job.ROUTE`` (streamed)
INLINE_DOWNLOAD_BYTES = 32 * 1024 * 1024


def _register_export(app, deps) -> None:
    folder = export_job.exports_dir(deps.config.cache.dir, deps.config.exports.dir)

    @app.callback(
        Output(ids.LOGS_DOWNLOAD, "data"),
        Output(ids.LOGS_EXPORT_STATUS, "children"),
        Input(ids.LOGS_EXPORT, "n_clicks"),
        State(ids.LOGS_REQUEST, "data"),
        background=True,
        progress=[Output(ids.LOGS_EXPORT_PROGRESS, "value"),
                  Output(ids.LOGS_EXPORT_RATE, "children"),
                  Output(ids.LOGS_EXPORT_QUEUE, "children"),
                  Output(ids.LOGS_EXPORT_FILE, "data")],
        running=[
            (Output(ids.LOGS_EXPORT, "disabled"), True, False),
            (Output(ids.LOGS_EXPORT_CANCEL, "disabled"), False, True),
            (Output(ids.LOGS_EXPORT_PROGRESS, "style"), {"display": "flex"},
             {"display": "none"}),
            (Output(ids.LOGS_EXPORT_RATE, "style"), {"display": "inline-block"},
             {"display": "none"}),
            (Output(ids.LOGS_EXPORT_QUEUE, "style"), {"display": "inline"},
             {"display": "none"}),
        ],
        cancel=[Input(ids.LOGS_EXPORT_CANCEL, "n_clicks")],
        prevent_initial_call=True,
    )
    def export_logs(set_progress, _clicks, req):
        return export_range(deps, req, folder, set_progress)

    @app.callback(
        Output(ids.LOGS_EXPORT_STATUS, "children", allow_duplicate=True),
        Input(ids.LOGS_EXPORT_CANCEL, "n_clicks"),
        State(ids.LOGS_EXPORT_FILE, "data"),
        prevent_initial_call=True,
    )
    def cancelled(clicks, name):
        # Dash kills the export's worker (SIGKILL: it cannot clean up); what it left goes here.
        if not clicks:
            raise PreventUpdate
        removed = export_job.discard(folder, name if isinstance(name, str) else None)
        return view.export_cancelled(removed)


def export_queue(deps) -> export_job.ExportQueue:
    """The queue every export of this cache directory waits in (``exports.max_running``)."""
    cfg = deps.config.exports
    return export_job.ExportQueue(Path(deps.config.cache.dir) / "export-queue",
                                  running=cfg.max_running, queued=cfg.max_queued)


def export_range(deps, req, folder, set_progress, queue=None) -> tuple:
    """``req``'s whole range to a new file in ``folder``: (download data, status).

    Runs in a background worker and waits its turn in the export queue first ("queued (N
    ahead)"); the file is deleted once read into the download, or, handed over as a link,
    once fetched or ``exports.keep`` seconds later.
    """
    try:
        req = req and checked(deps, req)
    except limits.Rejected as exc:
        return no_update, view.export_failed(str(exc))
    if not req or req.get("error"):
        return no_update, "Run a query first: the export covers its whole range."
    set_progress((0, "", "starting…", None))
    try:
        with (queue or export_queue(deps)).slot(
                lambda ahead: set_progress((0, "", view.queued_text(ahead), None))) as alive:
            summary, path = _export(deps, req, folder, set_progress, alive)
    except export_job.QueueFull as exc:
        telemetry.export_finished("refused")
        return no_update, view.export_failed(str(exc))
    except (DatasourceError, ValueError, OSError) as exc:  # OSError: disk full, permissions
        telemetry.export_finished("failed")
        return no_update, view.export_failed(failure_text(exc))
    telemetry.export_finished("done", summary.rows)
    return hand_over(summary, path)


def _export(deps, req, folder, set_progress, alive) -> tuple:
    """The export itself, once it holds a slot: (summary, path of the finished file)."""
    export_job.prune(folder, keep_seconds=deps.config.exports.keep)
    path = export_job.unique_path(folder, export_job.export_name(req["start_ns"],
                                                                 req["end_ns"]))
    set_progress((0, view.progress_label(export_job.Progress()), "running", path.name))

    def report(p):
        alive()  # tells the queue this export still works
        set_progress((round(p.fraction * 100), view.progress_label(p), "running", path.name))

    try:
        summary = export_job.run_export(
            export_job.for_worker(deps.loki), req["query"], req["start_ns"], req["end_ns"],
            req["direction"], path, redact=deps.config.redact, report=report)
    except Exception:
        path.unlink(missing_ok=True)  # give back the name reserved for this export
        raise
    return summary, path


def hand_over(summary, path: Path) -> tuple:
    """(download data, status) for a finished file: inline and deleted, or a link."""
    if path.stat().st_size > INLINE_DOWNLOAD_BYTES:
        # dcc.Download sends the file base64-encoded in one JSON reply; past this size
        # the browser fetches it from the streaming route instead, keeping memory flat. The
        # route deletes it once opened; an unclaimed one goes after exports.keep seconds.
        return no_update, view.export_done(summary, path.name, href=export_job.ROUTE + path.name)
    try:
        download = dcc.send_file(str(path))  # read whole into the reply: the file can go
    finally:
        export_job.remove(path)
    return download, view.export_done(summary, path.name)


def failure_text(error: DatasourceError | OSError | ValueError) -> str:
    """Why an export stopped: the upstream's words, or the OS's reason without the path."""
    if isinstance(error, DatasourceError):
        return error.describe()
    if isinstance(error, OSError):
        # strerror alone ("No space left on device"): the server's paths stay on the server.
        return f"cannot write the file: {error.strerror or error}"
    return str(error)

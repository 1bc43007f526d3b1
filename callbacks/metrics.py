"""Metrics tab callbacks: panels, variables, the ad-hoc query, zoom, CSV and the URL.

Every chart is one pattern-matching callback instance (``{"type": METRICS_GRAPH, "panel":
slug}``), so panels load in parallel and one failing panel never blanks the others.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace

from dash import ALL, MATCH, ClientsideFunction, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from callbacks import chart_extras, heatmap, latest_point, prom_status, session
from callbacks import range_picker as picker
from datasources.errors import DatasourceError
from layouts import ids, time_axis
from layouts import legend_table as legend_view
from layouts import metrics as view
from query import legend_stats, limits, panels, timezone, variables
from query import promql_suggest as suggest_words
from query import range_state as rp
from query.csv_safe import metric_frame_csv
from query.live import signature
from query.promql import regex_selector
from query.promql_suggest import completions, context
from query.timerange import Window, is_relative, live_ttl, plan

PREFIX = "metrics"
STATE = ids.range_id(PREFIX, ids.RANGE_STATE)
INTERVAL = ids.range_id(PREFIX, ids.RANGE_INTERVAL)
#: {"zone": the zone the charts are drawn in, "browser": the browser's} (None until known: UTC)
ZONE = ids.range_id(PREFIX, ids.RANGE_ZONE_NAME)
URL_KEYS = {"q": f"{PREFIX}.q", "job": f"{PREFIX}.job", "instance": f"{PREFIX}.instance"}
#: the measured width is a plot's pixels; at least this many points however narrow (the most
#: is ``metrics.max_points``)
MIN_POINTS = 100
#: suggestions under the query box: recent queries, PromQL's words, then names
SUGGESTED = 60


def register(app, deps) -> None:
    """Wire the Metrics tab (and the Status tab's Prometheus section)."""
    picker.register(app, PREFIX, deps.config.refresh.metrics, zones=True)
    offered = panels.configured(deps.config.panels)
    by_slug = {p.slug: p for p in offered}
    _register_width(app)
    _register_panels(app, deps, offered)
    _register_render(app, deps, by_slug)
    _register_variables(app, deps)
    _register_adhoc(app, deps)
    _register_url(app)
    chart_extras.register(app, deps, lambda *a: _inspected(deps, by_slug, *a),
                          ids.range_id(PREFIX, ids.RANGE_ZOOM))
    heatmap.register(app)
    prom_status.register(app, deps)


def _register_width(app) -> None:
    # The width is None until the tab is first shown (the callbacks wait for it), then the plot
    # width in pixels, or 0 when it cannot be measured: queries then use max_data_points.
    app.clientside_callback(
        ClientsideFunction("stackscope_metrics", "panelWidth"),
        Output(ids.METRICS_WIDTH, "data"),
        Input(ids.TABS, "value"),
        Input(STATE, "data"),
        State(ids.METRICS_WIDTH, "data"),
        State(ids.METRICS_PANELS, "id"),
    )


def _register_panels(app, deps, offered) -> None:
    @app.callback(
        Output(ids.METRICS_PANELS, "children"),
        Output(ids.METRICS_PANELS_NOTICE, "children"),
        Input(ids.METRICS_WIDTH, "data"),
        State(ids.METRICS_PANELS, "children"),
        State(STATE, "data"),
        State(ids.METRICS_JOB, "value"),
        State(ids.METRICS_INSTANCE, "value"),
        State(ZONE, "data"),
    )
    def build(width, built, state, job, instance, zone=None):
        if width is None or built:
            raise PreventUpdate  # built once, when the tab is first shown
        shown, error = _present(deps, offered)
        first = _first_charts(deps, shown, state, width, job, instance, zone)
        return (view.panels_grid(shown, first),
                view.panels_notice(len(shown), len(offered), error))


#: panels whose first chart ``build`` draws at once (their queries run side by side), and
#: how long it waits for them: a panel not ready by then mounts empty and loads as before
FIRST_WORKERS, FIRST_WAIT = 8, 1.0


def _first_charts(deps, shown, state, width, job, instance, zone=None) -> dict[str, tuple]:
    """Each shown panel's first chart, figure, notices and held record, by slug.

    The panels then mount drawn (a chart drawn empty, then again with its data, costs the
    browser a plotly draw per panel) and their render callback skips its initial call
    (``_built``). A panel left out (an input the render callback would refuse, or a query
    slower than ``FIRST_WAIT``: a slow Prometheus must not hold the whole grid) mounts empty
    and its render callback draws it as before; a query still running fills the cache.
    """
    try:
        extras = replace(chart_extras.default_extras(deps), zone=timezone.checked(zone),
                         browser=timezone.browser(zone))
    except limits.Rejected:
        return {}  # a forged zone: the render callback refuses it

    def first(panel):
        try:
            return _chart(deps, panel, state, width, job, instance, extras=extras)
        except (limits.Rejected, PreventUpdate, ValueError, TypeError, KeyError):
            return None

    if not shown:
        return {}
    pool = ThreadPoolExecutor(min(FIRST_WORKERS, len(shown)))
    futures = {p.slug: pool.submit(first, p) for p in shown}
    done, _ = wait(futures.values(), timeout=FIRST_WAIT)
    pool.shutdown(wait=False, cancel_futures=True)
    charts = {slug: f.result() for slug, f in futures.items() if f in done}
    mark = _mark(state, width, job, instance, extras)
    return {slug: (fig, notice, {**(held or {}), BUILT: mark}, below)
            for slug, (fig, notice, held, below) in ((s, c) for s, c in charts.items() if c)}


#: the key in a panel's held store naming the inputs ``build`` drew its first chart for
BUILT = "built"


def _mark(state, width, job, instance, extras) -> str:
    return signature(state, width, job, instance, extras.compare, extras.sources,
                     extras.legend, extras.zone, extras.browser)


def _built(held, state, width, job, instance, extras) -> bool:
    """Whether the panel mounted with the chart these inputs draw (``_first_charts``)."""
    return isinstance(held, dict) and held.get(BUILT) == _mark(state, width, job, instance,
                                                               extras)


def _present(deps, offered) -> tuple[list[panels.Panel], DatasourceError | None]:
    """The panels whose metrics exist, and the error when the metric names are unknown."""
    if deps.config.panels:
        return list(offered), None  # configured panels are all shown: no need for the names
    names = deps.prometheus.label_values("__name__")
    if names.value is None:
        return list(offered), names.error
    return panels.available(offered, set(names.value)), None


def _register_render(app, deps, by_slug) -> None:
    configured = tuple(a.name for a in deps.config.annotations)

    @app.callback(
        Output({"type": ids.METRICS_GRAPH, "panel": MATCH}, "figure"),
        Output({"type": ids.METRICS_NOTICE, "panel": MATCH}, "children"),
        Output({"type": ids.METRICS_HELD, "panel": MATCH}, "data"),
        Output({"type": ids.METRICS_BELOW, "panel": MATCH}, "children"),
        Input(STATE, "data"),
        Input(INTERVAL, "n_intervals"),
        Input(ids.METRICS_JOB, "value"),
        Input(ids.METRICS_INSTANCE, "value"),
        Input(ids.METRICS_WIDTH, "data"),
        Input(ids.METRICS_QUERY_STORE, "data"),
        Input(ids.METRICS_COMPARE, "value"),
        Input(ids.METRICS_ANNOTATE, "value"),
        Input(ids.METRICS_LEGEND, "value"),
        State({"type": ids.METRICS_GRAPH, "panel": MATCH}, "id"),
        State({"type": ids.METRICS_HELD, "panel": MATCH}, "data"),
        Input(ZONE, "data"),
    )
    def render(state, _tick, job, instance, width, adhoc, compare, sources, legend, graph_id,
               held, zone=None):
        slug = _slug(graph_id)
        if width is None or (ctx.triggered_id == ids.METRICS_QUERY_STORE and slug != view.ADHOC):
            raise PreventUpdate
        extras = chart_extras.extras_from(compare, sources, configured, legend, zone)
        # The zone's name arrives from the browser just after the page opens: a chart built
        # already in that zone stays as it is.
        if ctx.triggered_id in (None, ZONE) and _built(held, state, width, job, instance,
                                                       extras):
            raise PreventUpdate  # mounted with this very chart (``build``)
        panel = _panel(by_slug, slug, adhoc)
        # Only a refresh tick may patch: any other input (range, zoom, variables) redraws.
        ticked = set(ctx.triggered_prop_ids) == {f"{INTERVAL}.n_intervals"}
        # A chart with exemplars is redrawn whole: a patch extends its lines, not its points.
        patch = ticked and not panel.exemplars
        return _chart(deps, panel, state, width, job, instance, held if patch else None,
                      extras)

    @app.callback(
        Output({"type": ids.METRICS_DOWNLOAD, "panel": MATCH}, "data"),
        Input({"type": ids.METRICS_CSV, "panel": MATCH}, "n_clicks"),
        State(STATE, "data"),
        State(ids.METRICS_JOB, "value"),
        State(ids.METRICS_INSTANCE, "value"),
        State(ids.METRICS_WIDTH, "data"),
        State(ids.METRICS_QUERY_STORE, "data"),
        State({"type": ids.METRICS_CSV, "panel": MATCH}, "id"),
        State(ZONE, "data"),
        prevent_initial_call=True,
    )
    def download(_clicks, state, job, instance, width, adhoc, button_id, zone=None):
        slug = _slug(button_id)
        panel = _panel(by_slug, slug, adhoc)
        zone = timezone.checked(zone)
        try:
            window = _window(deps, state, width, zone)
        except ValueError:
            raise PreventUpdate from None  # the panel already says the range is bad
        if slug == view.ADHOC and session.query_wait(deps.limiter, deps.config):
            raise PreventUpdate  # the panel says so on its next refresh
        # The panel's own query on the same aligned window: normally a cache hit.
        live = is_relative(state["from"], state["to"])
        query = _expand(deps, panel, window, job, instance)
        result = _fetch(deps, query, window, live)
        if result.value is None:
            raise PreventUpdate  # the panel already shows the error
        # The chart's latest point too, so the CSV ends where the chart does.
        result = latest_point.added(deps, query, window, state, result, zone=zone).result
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(window.end))
        return dcc.send_string(metric_frame_csv(result.value), f"{panel.slug}-{stamp}.csv")

    @app.callback(
        Output(ids.range_id(PREFIX, ids.RANGE_ZOOM), "data"),
        Input({"type": ids.METRICS_GRAPH, "panel": ALL}, "relayoutData"),
        State(ZONE, "data"),
        prevent_initial_call=True,
    )
    def zoom(_relayouts, zone=None):
        zone = timezone.checked(zone)  # the charts' times are on this zone's clock
        for trigger in ctx.triggered:
            if trigger["prop_id"].endswith(".relayoutData"):
                wanted = rp.zoom_from_relayout(trigger["value"], zone)
                if wanted:
                    return {**wanted, "at": time.time()}
        raise PreventUpdate


def _chart(deps, panel, state, width, job, instance, held=None, extras=None) -> tuple:
    """A panel's chart (a figure, or a ``Patch`` of the ``held`` live one), its notices, the
    record of what a live chart holds (None otherwise) and what goes under the chart."""
    extras = extras or chart_extras.default_extras(deps)
    try:
        window = _window(deps, state, width, extras.zone)
    except ValueError as exc:
        return view.empty_figure("no chart: bad time range"), [str(exc)], None, None
    if panel.slug == view.ADHOC and (wait := session.query_wait(deps.limiter, deps.config)):
        return view.empty_figure("no chart: too many queries"), [wait], None, None
    live = is_relative(state["from"], state["to"])
    query = _expand(deps, panel, window, job, instance)
    revision = f"{state['from']}|{state['to']}"
    if panel.kind == "heatmap":
        fig, notice = heatmap.chart(deps, panel, window, query, _ttl(deps, window, live),
                                    revision)
        return time_axis.localized(fig, extras.zone, extras.browser), notice, None, None
    result = _fetch(deps, query, window, live)
    if result.value is None:
        return view.empty_figure("no data: the query failed"), view.notice(result), None, None
    result, reach, late = latest_point.added(deps, query, window, state, result,
                                             zone=extras.zone)
    table = extras.legend == "table"

    def legend(line):
        return view.legend_name(panel.legend, getattr(line, "labels", {}), line.series)

    below = None
    if not live or panel.exemplars or chart_extras.wants_full_figure(extras):
        fig, notes = view.figure(result.value, window, unit=panel.unit,
                                 legend=panel.legend, revision=revision, y=panel.y,
                                 legend_shown=not table, reach=reach)
        holds = None
        if not result.value.empty:
            fig, more, below = chart_extras.decorate(deps, panel, query, window, live, fig,
                                                     extras, legend)
            notes = [*notes, *more]
    else:
        fig, notes, holds = view.live_chart(
            result.value, window, held, unit=panel.unit, legend=panel.legend,
            revision=revision, query=query, revise=deps.config.metrics.scrape_interval,
            y=panel.y, legend_shown=not table, reach=reach, zone=extras.zone,
            browser=extras.browser)
        fig, more = chart_extras.marks_on_live(deps, window, fig, extras)
        notes = [*notes, *more]
    if panel.exemplars:
        fig, more = heatmap.with_exemplars(deps, panel, fig, query, window,
                                           _ttl(deps, window, live))
        notes = [*notes, *more]
    # Every time on the figure moves onto the zone's clock here, once (a patch is already).
    fig = time_axis.localized(fig, extras.zone, extras.browser)
    return (fig, view.notice(result, [*notes, *late]), holds,
            _with_table(below, panel, result, table))


def _with_table(below, panel, result, table: bool):
    """What goes under a chart, with the legend table when it is asked for."""
    if not table:
        return below
    stats, total = legend_stats.series_stats(result.value)
    rows = legend_view.table(stats, total, panel.unit,
                             lambda s: view.legend_name(panel.legend, s.labels, s.series))
    return [part for part in (rows, below) if part is not None] or None


def _inspected(deps, by_slug, slug, state, width, job, instance, adhoc, zone):
    """(panel, query as sent, window) of the panel Inspect asks about; ValueError for a bad
    range."""
    panel = _panel(by_slug, slug, adhoc)
    window = _window(deps, state, width, zone)
    return panel, _expand(deps, panel, window, job, instance), window


def _slug(component_id) -> str:
    """The panel slug of a pattern-matching id the browser sent back."""
    return limits.text(limits.mapping(component_id, "component id").get("panel"), "panel")


def _panel(by_slug, slug: str, adhoc) -> panels.Panel:
    if slug == view.ADHOC:
        adhoc = limits.text(adhoc, "ad-hoc query", most=limits.MAX_QUERY)
        if not adhoc:
            raise PreventUpdate
        return panels.Panel(view.ADHOC, "Ad-hoc query", adhoc)
    if slug not in by_slug:
        raise limits.Rejected(f"no panel {slug!r}")
    return by_slug[slug]


def _window(deps, state, width, zone: str = timezone.UTC_NAME) -> Window:
    """The panel's aligned window: range and width as the browser sent them, clamped to the
    config (``metrics.max_range``, ``metrics.max_points``), "/d" rounded to ``zone``'s days;
    ValueError says what is wrong."""
    cfg = deps.config.metrics
    start, end = rp.window(rp.checked(state), zone=zone)
    limits.span(start, end, cfg.max_range, "metrics.max_range")
    points = limits.points(width, fallback=cfg.max_data_points, lo=MIN_POINTS,
                           hi=max(cfg.max_points, MIN_POINTS))
    return plan(start, end, max_data_points=points, min_step=cfg.min_step)


def _expand(deps, panel, window: Window, job, instance) -> str:
    return panels.expand(panel.query, step=window.step,
                         scrape_interval=deps.config.metrics.scrape_interval,
                         job=variables.chosen(job, "job"),
                         instance=variables.chosen(instance, "instance"))


def _fetch(deps, query: str, window: Window, live: bool):
    return deps.prometheus.query_range(query, window.start, window.end, window.step,
                                       ttl=_ttl(deps, window, live))


def _ttl(deps, window: Window, live: bool) -> float | None:
    # A live window is current for one step: reused that long, all its viewers share a call.
    return live_ttl(window.step, deps.config.refresh.metrics,
                    deps.config.prometheus.cache_ttl) if live else None


def _register_variables(app, deps) -> None:
    @app.callback(
        Output(ids.METRICS_JOB, "options"),
        Input(ids.METRICS_WIDTH, "data"),
        State(ids.METRICS_JOB, "value"),
    )
    def jobs(width, chosen):
        if width is None:
            raise PreventUpdate
        chosen = variables.chosen(chosen, "job")
        return _options(deps.prometheus.label_values("job").value, chosen)

    @app.callback(
        Output(ids.METRICS_INSTANCE, "options"),
        Input(ids.METRICS_WIDTH, "data"),
        Input(ids.METRICS_JOB, "value"),
        State(ids.METRICS_INSTANCE, "value"),
    )
    def instances(width, job, chosen):
        if width is None:
            raise PreventUpdate
        job = variables.chosen(job, "job")
        chosen = variables.chosen(chosen, "instance")
        match = regex_selector("job", panels.regex_value(job)) if job else None
        return _options(deps.prometheus.label_values("instance", match).value, chosen)


def _options(values, chosen) -> list[dict]:
    # Keep a value from a shared link listed even when this server does not know it (yet).
    names = sorted(set(values or []) | set(chosen or ()))
    return [{"label": v, "value": v} for v in names]


def _values(options) -> list[str]:
    options = options if isinstance(options, list) else []
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def _register_adhoc(app, deps) -> None:
    @app.callback(
        Output(ids.METRICS_QUERY_STORE, "data"),
        Output(ids.METRICS_QUERY_RECENT, "data"),
        Input(ids.METRICS_QUERY_RUN, "n_clicks"),
        Input(ids.METRICS_QUERY, "n_submit"),
        State(ids.METRICS_QUERY, "value"),
        State(ids.METRICS_QUERY_STORE, "data"),
        State(ids.METRICS_QUERY_RECENT, "data"),
        prevent_initial_call=True,
    )
    def run(_clicks, _submits, text, current, recent):
        text = limits.text(text, "query", most=limits.MAX_QUERY).strip()
        # The recent queries live in the browser's local storage, not on the server.
        kept = suggest_words.remembered(text, suggest_words.checked_recent(recent))
        return (no_update if text == current else text,
                no_update if kept == (recent or []) else kept)

    @app.callback(
        Output(ids.METRICS_ADHOC, "style"),
        Input(ids.METRICS_QUERY_STORE, "data"),
    )
    def show(query):
        return {"display": "block" if query else "none"}

    @app.callback(
        Output(ids.METRICS_QUERY_SUGGEST, "children"),
        Input(ids.METRICS_QUERY, "value"),
        Input(ids.METRICS_QUERY_RECENT, "data"),
        prevent_initial_call=True,
    )
    def suggest(text, recent):
        text = limits.text(text, "query", most=limits.MAX_QUERY)
        where = context(text)
        offered = [*suggest_words.recent_matching(suggest_words.checked_recent(recent), text),
                   *suggest_words.words(text, where),
                   *completions(where, _candidates(deps, where))]
        return view.suggestion_options(list(dict.fromkeys(offered))[:SUGGESTED])


def _candidates(deps, where) -> list[str]:
    if where.kind == "metric":
        found = deps.prometheus.label_values("__name__")
    elif where.kind in ("label", "grouping"):
        found = deps.prometheus.label_names(where.match)
    elif where.kind == "value":
        found = deps.prometheus.label_values(where.label, where.match)
    else:
        return []
    return [n for n in found.value or [] if n != "__name__"]


def _register_url(app) -> None:
    @app.callback(
        Output(ids.METRICS_QUERY, "value"),
        Output(ids.METRICS_QUERY_STORE, "data", allow_duplicate=True),
        Output(ids.METRICS_JOB, "value"),
        Output(ids.METRICS_INSTANCE, "value"),
        Output(ids.METRICS_JOB, "options", allow_duplicate=True),
        Output(ids.METRICS_INSTANCE, "options", allow_duplicate=True),
        Input(ids.URL, "search"),
        State(ids.METRICS_QUERY_STORE, "data"),
        State(ids.METRICS_JOB, "value"),
        State(ids.METRICS_INSTANCE, "value"),
        State(ids.METRICS_JOB, "options"),
        State(ids.METRICS_INSTANCE, "options"),
        prevent_initial_call="initial_duplicate",
    )
    def from_url(search, query, job, instance, job_options, instance_options):
        query = limits.optional_text(query, "query", most=limits.MAX_QUERY)
        job, instance = variables.chosen(job, "job"), variables.chosen(instance, "instance")
        try:
            params = rp.url_params(search)
            wanted = [params.get(URL_KEYS["q"]) or None,
                      *(variables.from_url(rp.url_values(search, URL_KEYS[k]))
                        for k in ("job", "instance"))]
        except limits.Rejected:
            raise
        except ValueError as exc:  # more fields than url_params reads
            raise limits.Rejected(f"URL: {exc}") from None
        if wanted == [query or None, job, instance]:
            raise PreventUpdate
        q = wanted[0] or ""
        # A dropdown clears a value missing from its options: list it along with the ones
        # already there (Back and Forward do not fetch them again).
        return (q, q, wanted[1], wanted[2], _options(_values(job_options), wanted[1]),
                _options(_values(instance_options), wanted[2]))

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.METRICS_QUERY_STORE, "data"),
        Input(ids.METRICS_JOB, "value"),
        Input(ids.METRICS_INSTANCE, "value"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def to_url(query, job, instance, search):
        query = limits.optional_text(query, "query", most=limits.MAX_QUERY)
        job, instance = variables.chosen(job, "job"), variables.chosen(instance, "instance")
        return picker.url_update(search, {URL_KEYS["q"]: query, URL_KEYS["job"]: job,
                                          URL_KEYS["instance"]: instance})

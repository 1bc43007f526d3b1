"""The Metrics charts' extras: annotations, time shift, expected band and anomalies, Inspect,
full screen. ``callbacks.metrics`` calls ``decorate`` for each chart it draws.

Every extra query goes through the Prometheus datasource and its cache: an annotation query
is the same for every panel on the page, so all panels share one upstream call for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dash import ALL, MATCH, Input, Output, Patch, State, ctx
from dash.exceptions import PreventUpdate

from layouts import chart_extras as extras_view
from layouts import ids, time_axis
from query import annotations as notes_of
from query import compare, limits, timezone
from query.range_state import utc_text
from query.timerange import Window, live_ttl

#: annotation sources switched on when a page opens
DEFAULT_SOURCES = tuple(extras_view.BUILT_IN_SOURCES)
LEGENDS = ("list", "table")


@dataclass(frozen=True)
class Extras:
    """What the viewer asked to see besides the series."""

    compare: str = "off"
    sources: tuple[str, ...] = DEFAULT_SOURCES
    #: "list" (plotly's legend) or "table" (min / max / mean / last under the chart)
    legend: str = "list"
    #: the zone whose clock the chart's times are on (``query.timezone``), checked
    zone: str = timezone.UTC_NAME
    #: the zone the browser's own clock is on (plotly.js shows times on it), checked
    browser: str = timezone.UTC_NAME

    @property
    def plain(self) -> bool:
        """Whether nothing is asked for but the series."""
        return self.compare == "off" and not self.sources


def extras_from(compare_value, sources, configured: tuple[str, ...],
                legend="list", zone=None) -> Extras:
    """The options the browser sent, checked (an unknown one is HTTP 400; a zone this
    server does not know is UTC, ``timezone.chosen``)."""
    legend = "list" if legend is None else legend
    if legend not in LEGENDS:
        raise limits.Rejected(f"legend: {str(legend)[:40]!r} is neither 'list' nor 'table'")
    try:
        mode = compare.mode(compare_value or "off")
    except ValueError as exc:
        raise limits.Rejected(str(exc)) from None
    known = (*DEFAULT_SOURCES, *configured)
    chosen = tuple(limits.texts(sources, "annotation sources", most=len(known)))
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise limits.Rejected(f"annotation source {unknown[0][:40]!r} is not configured")
    return Extras(mode, tuple(s for s in known if s in chosen), legend,
                  timezone.checked(zone), timezone.browser(zone))


def default_extras(deps) -> Extras:
    return Extras(sources=(*DEFAULT_SOURCES, *(a.name for a in deps.config.annotations)))


# --- drawing -------------------------------------------------------------------------------


def decorate(deps, panel, query: str, window: Window, live: bool, fig: dict, extras: Extras,
             legend) -> tuple[dict, list[str], object]:
    """``fig`` with the extras drawn on it; notes for the panel; what goes under the chart."""
    notes, below = [], None
    marks, mark_notes = marks_for(deps, window, live, extras.sources)
    notes += mark_notes
    if extras.compare in compare.SHIFTS:
        seconds = compare.SHIFTS[extras.compare]
        shifted = _range(deps, query, window.start - seconds, window.end - seconds,
                         window.step, live)
        if shifted.value is not None:
            fig = extras_view.with_shift(fig, compare.shifted(shifted.value, seconds), window,
                                         seconds, compare.MODES[extras.compare].lower(), legend)
        else:
            notes.append(f"{compare.MODES[extras.compare]}: {shifted.error.describe()}")
    elif extras.compare == "band":
        fig, band_notes, below = _band(deps, panel, query, window, live, fig, legend,
                                       extras.zone)
        notes += band_notes
    if marks:
        fig = extras_view.with_marks(fig, marks, extras.zone)
    return fig, notes, below


def wants_full_figure(extras: Extras) -> bool:
    """Whether a live chart must be redrawn whole: a comparison adds traces a patch of the
    series' points cannot carry (annotations travel in the patch: ``marks_on_live``)."""
    return extras.compare != "off"


def marks_on_live(deps, window: Window, fig, extras: Extras):
    """A live chart (a figure, a ``Patch`` or ``no_update``) with the annotations of
    ``window``, and their notes. A patch re-sends the few shapes whole each time, so a region
    still growing or one gone from the window is drawn as it is now."""
    if not extras.sources:
        return fig, []
    marks, notes = marks_for(deps, window, True, extras.sources)
    if isinstance(fig, dict):
        return (extras_view.with_marks(fig, marks, extras.zone) if marks else fig), notes
    if isinstance(fig, Patch):
        # A patch's times go on the zone's clock here: no figure to localize comes after.
        drawn = time_axis.localized(
            extras_view.with_marks({"data": [], "layout": {}}, marks, extras.zone),
            extras.zone, extras.browser)["layout"] if marks else {}
        fig["layout"]["shapes"] = drawn.get("shapes", [])
        fig["layout"]["annotations"] = drawn.get("annotations", [])
        fig["layout"]["margin"]["t"] = drawn.get("margin", {}).get("t", extras_view.TOP)
    return fig, notes


def marks_for(deps, window: Window, live: bool, sources) -> tuple[list, list[str]]:
    """The annotations of the chosen sources in ``window``, and notes (failures, regions
    covering the whole range)."""
    marks, notes = [], []
    for source in sources:
        expr, style = _source(deps, source)
        result = _range(deps, expr, window.start, window.end, window.step, live)
        if result.value is None:
            notes.append(f"annotations ({source}): {result.error.describe()}")
            continue
        marks += _marks(source, result.value, window, style)
    drawn, whole = notes_of.split_whole_range(marks, window.start, window.end)
    return drawn, notes + whole


def _source(deps, source: str) -> tuple[str, str]:
    if source == "deploys":
        return notes_of.DEPLOYS, "deploys"
    if source == "alerts":
        return notes_of.ALERTS, "alerts"
    configured = next(a for a in deps.config.annotations if a.name == source)
    return configured.expr, configured.style


def _marks(source: str, frame, window: Window, style: str) -> list:
    if style == "deploys":
        return notes_of.deploys(frame, window.start, window.step)
    if style == "alerts":
        # Heartbeat alerts (severity "none", such as Watchdog) fire by design: not news.
        if "severity" in frame.columns:
            frame = frame[frame["severity"].astype(str) != "none"]
        return notes_of.regions(frame, window.step, source="alerts")
    if style == "line":
        return notes_of.lines(frame, source=source)
    return [notes_of.Mark(m.source, source, m.start, m.end, m.severity)
            for m in notes_of.regions(frame, window.step, source=source, name_label="")]


def _band(deps, panel, query, window: Window, live, fig, legend, zone=timezone.UTC_NAME):
    cfg = deps.config.metrics
    if not compare.band_supported(window.step):
        return fig, [f"Expected band: a step of {window.step:g} s does not divide a day; "
                     "pick a range of 30 days or less"], None
    past = _range(deps, query, window.start - cfg.band_days * compare.DAY, window.end,
                  window.step, live)
    if past.value is None:
        return fig, [f"Expected band: {past.error.describe()}"], None
    bands = compare.expected_bands(past.value, window.start, window.end, window.step,
                                   days=cfg.band_days, mads=cfg.band_mads)
    found = compare.anomalies(bands, window.step, min_points=cfg.band_min_points, most=500)
    fig = extras_view.with_band(fig, bands, found, lambda b: legend(b))
    pad = max(window.step * 6, (window.end - window.start) / 50)
    return fig, [], extras_view.anomaly_list(panel.slug, found, len(found), pad=pad,
                                             zone=zone)


def _range(deps, query: str, start: float, end: float, step: float, live: bool):
    ttl = live_ttl(step, deps.config.refresh.metrics,
                   deps.config.prometheus.cache_ttl) if live else None
    return deps.prometheus.query_range(query, start, end, step, ttl=ttl)


# --- callbacks -----------------------------------------------------------------------------


def register(app, deps, chart, range_zoom: str) -> None:
    """Inspect, full screen and the anomaly links. ``chart(panel_slug, state, width, job,
    instance, adhoc, zone)`` gives (panel, query, window) for Inspect."""

    @app.callback(
        Output(ids.METRICS_INSPECT_MODAL, "is_open"),
        Output(ids.METRICS_INSPECT_TITLE, "children"),
        Output(ids.METRICS_INSPECT_BODY, "children"),
        Input({"type": ids.METRICS_INSPECT, "panel": ALL}, "n_clicks"),
        State(ids.range_id("metrics", ids.RANGE_STATE), "data"),
        State(ids.METRICS_WIDTH, "data"),
        State(ids.METRICS_JOB, "value"),
        State(ids.METRICS_INSTANCE, "value"),
        State(ids.METRICS_QUERY_STORE, "data"),
        State(ids.range_id("metrics", ids.RANGE_ZONE_NAME), "data"),
        prevent_initial_call=True,
    )
    def inspect(clicks, state, width, job, instance, adhoc, zone=None):
        if not ctx.triggered_id or not any(c for c in clicks or [] if c):
            raise PreventUpdate  # buttons mounting, not a click
        slug = limits.text(limits.mapping(ctx.triggered_id, "id").get("panel"), "panel")
        try:
            panel, query, window = chart(slug, state, width, job, instance, adhoc,
                                         timezone.checked(zone))
        except ValueError as exc:
            return True, "Inspect", extras_view.inspect_body({"Range": str(exc)}, None)
        started = time.perf_counter()
        result = deps.prometheus.query_range(query, window.start, window.end, window.step)
        took = time.perf_counter() - started
        return True, f"Inspect: {panel.title}", extras_view.inspect_body(
            inspect_facts(deps, query, window, result, took), result.value,
            result.error.describe() if result.error else None)

    app.clientside_callback(
        """(n, cls) => {
            if (!n) { return window.dash_clientside.no_update; }
            const base = (cls || "").replace(/\\s*metrics-fullscreen/g, "");
            return n % 2 ? base + " metrics-fullscreen" : base;
        }""",
        Output({"type": ids.METRICS_PANEL, "panel": MATCH}, "className"),
        Input({"type": ids.METRICS_FULL, "panel": MATCH}, "n_clicks"),
        State({"type": ids.METRICS_PANEL, "panel": MATCH}, "className"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(range_zoom, "data", allow_duplicate=True),
        Input({"type": ids.METRICS_ANOMALY, "panel": ALL, "from": ALL, "to": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def zoom_to_anomaly(clicks):
        trigger = ctx.triggered_id
        if not trigger or not any(c for c in clicks or [] if c):
            raise PreventUpdate
        trigger = limits.mapping(trigger, "anomaly id")
        return {"from": limits.text(trigger.get("from"), "from", most=40),
                "to": limits.text(trigger.get("to"), "to", most=40), "at": time.time()}


def inspect_facts(deps, query: str, window: Window, result, took: float) -> dict[str, str]:
    """What Inspect lists about a panel's request and its answer."""
    frame = result.value
    upstream = frame.attrs.get("took_s") if frame is not None else None
    facts = {
        "Query": query,
        "Request": f"POST {deps.prometheus.upstream.url.rstrip('/')}/api/v1/query_range",
        "Range": f"{utc_text(window.start)} → {utc_text(window.end)} UTC",
        "Step": f"{window.step:g} s ({window.points:,} points per series at most)",
        "Series": f"{frame['series'].nunique():,}" if frame is not None else "–",
        "Points": f"{len(frame):,}" if frame is not None else "–",
        "Fetched": (f"{utc_text(result.fetched_at)} UTC" if result.fetched_at else "–")
                   + (" (stale)" if result.stale else ""),
        "Prometheus took": f"{upstream * 1000:.0f} ms" if upstream is not None else "–",
        "This answer took": f"{took * 1000:.0f} ms (from the cache when the chart asked "
                            "the same just before)",
    }
    warnings = list(frame.attrs.get("warnings", [])) if frame is not None else []
    if warnings:
        facts["Warnings"] = "; ".join(warnings)
    return facts

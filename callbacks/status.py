"""Status tab callbacks: probe on the interval, render cards and incidents; Pause, Refresh now,
a card's 24 h toggle and the incidents CSV."""

from __future__ import annotations

import time

from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc

from callbacks import session
from callbacks.actions import buttons_by_service
from layouts import ids
from layouts import status as view
from layouts import status_history as part
from layouts.cache_badge import shared_cache_badge
from layouts.common import result_notice
from query.csv_safe import write_csv
from query.incidents import csv_columns

#: outages listed on the page, and at most in the CSV (the server owns both bounds)
INCIDENTS_SHOWN = 25
INCIDENTS_CSV = 5000
#: cards that may show their 24 h chart at once (each is a 1 440-minute read)
EXPANDED_MAX = 8


def card_history(deps, expanded=(), now=None) -> view.CardHistory:
    """Everything the cards show from the probe history, read once per refresh."""
    names = [s.name for s in deps.status.services]
    history = deps.status.history
    # The store comes from the browser: only names of configured services count.
    wanted = {n for n in expanded or () if isinstance(n, str)}
    shown = [n for n in names if n in wanted][:EXPANDED_MAX]
    return view.CardHistory(
        uptime=deps.status.uptime(), coverage=history.coverage(names),
        latency=deps.status.latency(), recent=history.recent(names, part.HEARTBEAT),
        runs=history.current_runs(names),
        day=history.latency(shown, minutes=1440) if shown else {},
        now=now if now is not None else time.time())


def outputs(deps, result, throttled=None, expanded=()) -> tuple:
    """The refresh callback's outputs for one probe round: summary, its class, checked,
    cards, notices and the incidents table."""
    probes = result.value or []
    history = card_history(deps, expanded)
    names = [s.name for s in deps.status.services]
    incidents = deps.status.history.incidents(names, INCIDENTS_SHOWN)
    return (view.summary_text(probes), view.summary_class(probes),
            view.checked_text(probes),
            view.cards(probes, history, actions=buttons_by_service(deps.config)),
            [n for n in (throttled, result_notice(result),
                         shared_cache_badge(deps.cache.degraded())) if n is not None] or None,
            part.incidents_table(incidents, history.now, INCIDENTS_SHOWN))


def first_paint(deps) -> tuple:
    """The Status tab as of the background prober's latest round, drawn with the page."""
    return outputs(deps, deps.status.latest())


def incidents_csv(deps, now=None) -> dict:
    """The newest ``INCIDENTS_CSV`` outages as a spreadsheet-safe CSV download."""
    now = now if now is not None else time.time()
    rows = deps.status.history.incidents([s.name for s in deps.status.services], INCIDENTS_CSV)
    text = write_csv(csv_columns(rows, now, part.stamp), numbers=("duration_s", "failed_probes"))
    name = time.strftime("stackscope-incidents-%Y%m%dT%H%M%SZ.csv", time.gmtime(now))
    return dcc.send_string(text, name, type="text/csv")


def register(app, deps) -> None:
    """Wire the Status tab."""

    @app.callback(
        Output(ids.STATUS_SUMMARY, "children"),
        Output(ids.STATUS_SUMMARY, "className"),
        Output(ids.STATUS_CHECKED, "children"),
        Output(ids.STATUS_CARDS, "children"),
        Output(ids.STATUS_ERROR, "children"),
        Output(ids.STATUS_INCIDENTS, "children"),
        Input(ids.STATUS_INTERVAL, "n_intervals"),
        Input(ids.STATUS_REFRESH, "n_clicks"),
        Input(ids.STATUS_EXPANDED, "data"),
    )
    def refresh(_ticks, _clicks, expanded):
        # "Refresh now" skips the probe cache, at most once per limits.force_interval per
        # browser: a click (or a forged request) past that shows the latest round instead.
        asked = ctx.triggered_id == ids.STATUS_REFRESH
        forced = asked and session.may_force(deps.limiter, deps.config, "status")
        # Otherwise the background prober's latest round: viewers never add probes.
        result = deps.status.snapshot(force=True) if forced else deps.status.latest()
        throttled = view.refresh_throttled(deps.config.limits.force_interval) if (
            asked and not forced) else None
        return outputs(deps, result, throttled, expanded if isinstance(expanded, list) else ())

    # In the browser (assets/status.js): a refresh redraws the cards and with them every
    # toggle, which would otherwise cost each viewer a second request per refresh.
    app.clientside_callback(
        ClientsideFunction("stackscope_status", "toggleExpanded"),
        Output(ids.STATUS_EXPANDED, "data"),
        Input({"type": ids.STATUS_EXPAND, "name": ALL}, "n_clicks"),
        State(ids.STATUS_EXPANDED, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.STATUS_INCIDENTS_DOWNLOAD, "data"),
        Input(ids.STATUS_INCIDENTS_CSV, "n_clicks"),
        prevent_initial_call=True,
    )
    def download(_clicks):
        return incidents_csv(deps)

    @app.callback(
        Output(ids.STATUS_INTERVAL, "disabled"),
        Output(ids.STATUS_PAUSE, "children"),
        Input(ids.STATUS_PAUSE, "n_clicks"),
        State(ids.STATUS_INTERVAL, "disabled"),
        prevent_initial_call=True,
    )
    def pause(_clicks, paused):
        return (not paused, "Pause" if paused else "Resume")

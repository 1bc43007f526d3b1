"""Status tab callbacks: probe on the interval, render cards; Pause and Refresh now."""

from __future__ import annotations

from dash import Input, Output, State, ctx

from callbacks import session
from callbacks.actions import buttons_by_service
from layouts import ids
from layouts import status as view
from layouts.cache_badge import shared_cache_badge
from layouts.common import result_notice


def outputs(deps, result, throttled=None) -> tuple:
    """The refresh callback's outputs for one probe round: summary, its class, checked,
    cards and notices."""
    probes = result.value or []
    return (view.summary_text(probes), view.summary_class(probes),
            view.checked_text(probes),
            view.cards(probes, deps.status.uptime(), deps.status.latency(),
                       actions=buttons_by_service(deps.config)),
            [n for n in (throttled, result_notice(result),
                         shared_cache_badge(deps.cache.degraded())) if n is not None] or None)


def first_paint(deps) -> tuple:
    """The Status tab as of the background prober's latest round, drawn with the page."""
    return outputs(deps, deps.status.latest())


def register(app, deps) -> None:
    """Wire the Status tab."""

    @app.callback(
        Output(ids.STATUS_SUMMARY, "children"),
        Output(ids.STATUS_SUMMARY, "className"),
        Output(ids.STATUS_CHECKED, "children"),
        Output(ids.STATUS_CARDS, "children"),
        Output(ids.STATUS_ERROR, "children"),
        Input(ids.STATUS_INTERVAL, "n_intervals"),
        Input(ids.STATUS_REFRESH, "n_clicks"),
    )
    def refresh(_ticks, _clicks):
        # "Refresh now" skips the probe cache, at most once per limits.force_interval per
        # browser: a click (or a forged request) past that shows the latest round instead.
        asked = ctx.triggered_id == ids.STATUS_REFRESH
        forced = asked and session.may_force(deps.limiter, deps.config, "status")
        # Otherwise the background prober's latest round: viewers never add probes.
        result = deps.status.snapshot(force=True) if forced else deps.status.latest()
        throttled = view.refresh_throttled(deps.config.limits.force_interval) if (
            asked and not forced) else None
        return outputs(deps, result, throttled)

    @app.callback(
        Output(ids.STATUS_INTERVAL, "disabled"),
        Output(ids.STATUS_PAUSE, "children"),
        Input(ids.STATUS_PAUSE, "n_clicks"),
        State(ids.STATUS_INTERVAL, "disabled"),
        prevent_initial_call=True,
    )
    def pause(_clicks, paused):
        return (not paused, "Pause" if paused else "Resume")

"""Callbacks of the shared range picker: one instance per tab prefix, synced with the URL.

``register(app, prefix)`` wires one picker; ``register_tab_sync(app)`` (once per app) keeps
the selected tab in the URL too, so a shared link opens on the right tab.
"""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from layouts import ids
from query import range_state as rp
from query import timezone
from query.limits import Rejected


def register(app, prefix: str, refresh_seconds: float = 5, zones: bool = False) -> None:
    """Wire the range picker built by ``layouts.range_picker.range_picker(prefix)``;
    ``refresh_seconds`` is the tab's configured (and fastest allowed) live refresh; ``zones``
    as the picker was built with (its times then follow the chosen zone)."""
    rid = lambda part: ids.range_id(prefix, part)  # noqa: E731
    zone_of = [State(rid(ids.RANGE_ZONE_NAME), "data")] if zones else []
    if zones:
        _register_zone(app, rid)

    @app.callback(
        Output(rid(ids.RANGE_STATE), "data"),
        Output(rid(ids.RANGE_ERROR), "children"),
        Output(rid(ids.RANGE_PRESETS), "value"),
        Input(ids.URL, "search"),
        Input(rid(ids.RANGE_PRESETS), "value"),
        Input(rid(ids.RANGE_APPLY), "n_clicks"),
        Input(rid(ids.RANGE_FROM), "n_submit"),
        Input(rid(ids.RANGE_TO), "n_submit"),
        Input(rid(ids.RANGE_BACK), "n_clicks"),
        Input(rid(ids.RANGE_ZOOM), "data"),
        State(rid(ids.RANGE_STATE), "data"),
        State(rid(ids.RANGE_FROM), "value"),
        State(rid(ids.RANGE_TO), "value"),
        *zone_of,
    )
    def change(search, preset, _apply, _enter_from, _enter_to, _back, zoom, state, *typed):
        trigger = ctx.triggered_id
        state = rp.checked(state)  # forged: HTTP 400 (query.limits.Rejected)
        zone = timezone.checked(typed[2] if zones else None)
        try:
            new = _next_state(trigger, rid, state, search, preset, rp.checked_zoom(zoom),
                              typed[:2], prefix, zone)
            if new is not None:
                new = rp.checked(new)
                rp.window(new, zone=zone)  # a preset or zoom sent must be a real range
        except ValueError as exc:
            return no_update, str(exc), rp.preset_of(state)
        if new is None or new == state:
            return no_update, "", rp.preset_of(state)
        # The preset radios are set here, in the same callback, so that setting them does not
        # come back as a click.
        return new, "", rp.preset_of(new)

    @app.callback(
        Output(rid(ids.RANGE_BACK), "disabled"),
        Output(rid(ids.RANGE_LABEL), "children"),
        Output(rid(ids.RANGE_FROM), "value"),
        Output(rid(ids.RANGE_TO), "value"),
        Input(rid(ids.RANGE_STATE), "data"),
        *[Input(z.component_id, z.component_property) for z in zone_of],
    )
    def show(state, zone=None):
        state = rp.checked(state)
        zone, unknown = timezone.chosen(zone)
        try:
            typed = rp.typed_inputs(state, zone=zone)
        except ValueError:
            typed = (no_update,) * 2
        shown = rp.label(state, zone=zone) + (f" · {unknown}" if unknown else "")
        return (not state.get("back"), shown, *typed)

    @app.callback(
        Output(rid(ids.RANGE_FROM), "value", allow_duplicate=True),
        Output(rid(ids.RANGE_TO), "value", allow_duplicate=True),
        Input(rid(ids.RANGE_DATES), "start_date"),
        Input(rid(ids.RANGE_DATES), "end_date"),
        prevent_initial_call=True,
    )
    def days_picked(start_date, end_date):
        frm, to = rp.dates_typed(start_date, end_date)
        return frm or no_update, to or no_update

    @app.callback(
        Output(rid(ids.RANGE_INTERVAL), "interval"),
        Input(rid(ids.RANGE_REFRESH), "value"),
        prevent_initial_call=True,
    )
    def refresh_every(value):
        return int(rp.chosen_refresh(value, refresh_seconds) * 1000)

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input(rid(ids.RANGE_STATE), "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def to_url(state, search):
        return url_update(search, rp.state_params(prefix, rp.checked(state)))

    @app.callback(
        Output(rid(ids.RANGE_INTERVAL), "disabled"),
        Output(rid(ids.RANGE_LIVE), "children"),
        Output(rid(ids.RANGE_LIVE), "disabled"),
        Input(rid(ids.RANGE_STATE), "data"),
        Input(rid(ids.RANGE_LIVE), "n_clicks"),
        State(rid(ids.RANGE_INTERVAL), "disabled"),
    )
    def live(state, _clicks, stopped):
        if not rp.live(rp.checked(state)):
            return True, "Live off", True  # an absolute range does not move: nothing to refresh
        paused = not stopped if ctx.triggered_id == rid(ids.RANGE_LIVE) else False
        return paused, "Resume" if paused else "Pause", False


def _register_zone(app, rid) -> None:
    # The browser names its zone (Intl); the select's choice says whether it is used.
    app.clientside_callback(
        ClientsideFunction("stackscope_time", "zoneName"),
        Output(rid(ids.RANGE_ZONE_NAME), "data"),
        Output(rid(ids.RANGE_ZONE), "options"),
        Input(rid(ids.RANGE_ZONE), "value"),
    )


def _next_state(trigger, rid, state, search, preset, zoom, typed, prefix, zone=timezone.UTC_NAME):
    """The picker state after ``trigger``; None when nothing changes."""
    if trigger == ids.URL or trigger is None:
        return rp.state_from_url(prefix, search, state)
    if trigger == rid(ids.RANGE_PRESETS):
        return rp.set_range(state, str(preset), rp.DEFAULT_TO) if preset else None
    if trigger in (rid(ids.RANGE_APPLY), rid(ids.RANGE_FROM), rid(ids.RANGE_TO)):
        return rp.set_range(state, *rp.typed_range(*typed, zone=zone))
    if trigger == rid(ids.RANGE_BACK):
        return rp.go_back(state)
    if trigger == rid(ids.RANGE_ZOOM) and zoom:
        return rp.reset(state) if zoom.get("reset") else rp.set_range(state, zoom["from"],
                                                                      zoom["to"])
    return None


def register_tab_sync(app) -> None:
    """Keep the selected tab in the URL (``?tab=metrics``) and open the tab a link names."""

    @app.callback(
        Output(ids.TABS, "value"),
        Input(ids.URL, "search"),
        State(ids.TABS, "value"),
    )
    def open_tab(search, current):
        wanted = rp.url_params(search).get("tab")
        if not wanted or rp.known_tab(wanted, ids.TAB_VALUES) == current:
            raise PreventUpdate
        return rp.known_tab(wanted, ids.TAB_VALUES)

    @app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input(ids.TABS, "value"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )
    def tab_to_url(tab, search):
        return url_update(search, {"tab": rp.known_tab(tab, ids.TAB_VALUES)})


def url_update(search: str | None, updates) -> str:
    """The new query string, or no_update when nothing changed (no browser history entry)."""
    try:
        updated = rp.with_params(search, updates)
    except ValueError as exc:  # a forged query string of more fields than it reads
        raise Rejected(f"URL: {exc}") from None
    return no_update if updated == (search or "") else updated

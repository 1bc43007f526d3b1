"""Status tab, Prometheus section: targets, the alert list, silences and alert history."""

from __future__ import annotations

import time

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

import access
from datasources.errors import DatasourceError
from layouts import alert_list, ids
from layouts import prom_status as view
from layouts.common import shown_already
from query import alerts
from query.timerange import human_duration, plan

#: the section's parts, each sent only when the browser does not show it already
PARTS = (Output(ids.STATUS_PROM_TARGETS, "children"),
         Output(ids.STATUS_PROM_ALERT_SUMMARY, "children"),
         Output(ids.STATUS_PROM_ALERT_NOTICES, "children"),
         Output(ids.STATUS_PROM_ALERTS, "children"))


def register(app, deps) -> None:
    """Fill the parts of ``ids.STATUS_PROM_SECTION`` on every Status refresh while that tab is
    shown (each only when it changed), and
    wire the alert history and the silence dialog."""

    @app.callback(
        *PARTS,
        Output(ids.ALERTS_SEVERITY_FILTER, "options"),
        Input(ids.STATUS_INTERVAL, "n_intervals"),
        Input(ids.STATUS_REFRESH, "n_clicks"),
        Input(ids.TABS, "value"),
        Input(ids.ALERTS_STATE_FILTER, "value"),
        Input(ids.ALERTS_SEVERITY_FILTER, "value"),
        Input(ids.ALERTS_LABEL_FILTER, "value"),
        Input(ids.ALERTS_CHANGED, "data"),
        *(State(o.component_id, o.component_property) for o in PARTS),
    )
    def refresh(_ticks, _clicks, tab, states, severities, label, _changed, *shown):
        if tab != "status":
            raise PreventUpdate  # filled when the tab is first shown, not on another's load
        if not deps.config.prometheus.enabled:
            return *unless_shown(view.not_configured(), shown), []
        ttl = section_ttl(deps.config)
        sources = alert_sources(deps, ttl)
        silences = deps.alertmanager.silences(ttl=ttl) if deps.alertmanager else None
        found = alerts.severities_of([r.value for _, r in sources])
        parts = view.section(deps.prometheus.targets(ttl=ttl), sources,
                             filters=alerts.filters(states, severities, label),
                             silences=silences, can_silence=_can_silence(deps))
        return *unless_shown(parts, shown), alert_list.severity_options(found)

    @app.callback(
        Output(ids.ALERTS_HISTORY, "children"),
        Input(ids.TABS, "value"),
        Input(ids.ALERTS_HISTORY_WINDOW, "value"),
        Input(ids.STATUS_REFRESH, "n_clicks"),
    )
    def history(tab, window, _clicks):
        if tab != "status":
            raise PreventUpdate
        if not deps.config.prometheus.enabled:
            return []
        seconds = alert_list.HISTORY_WINDOWS.get(
            window if isinstance(window, str) else "", alert_list.HISTORY_WINDOWS[
                alert_list.DEFAULT_WINDOW])
        now = time.time()
        w = plan(now - seconds, now, max_data_points=300,
                 min_step=deps.config.metrics.scrape_interval)
        result = deps.prometheus.alert_history(w.start, w.end, w.step,
                                               ttl=max(w.step, section_ttl(deps.config)))
        return alert_list.history(result, (w.start, w.end))

    register_silences(app, deps)


def register_silences(app, deps) -> None:
    """The silence dialog: open it for an alert, create the silence, expire one.

    Which Silence or Expire button was pressed is kept in the browser first
    (``stackscope_clicks.pressed``): the list is redrawn every refresh, and a server callback
    on the buttons themselves lost any click answered slower than one refresh."""
    for buttons, asked in (({"type": ids.SILENCE_OPEN, "key": ALL}, ids.SILENCE_ASKED),
                           ({"type": ids.SILENCE_EXPIRE, "id": ALL}, ids.SILENCE_EXPIRE_ASKED)):
        app.clientside_callback(ClientsideFunction("stackscope_clicks", "pressed"),
                                Output(asked, "data"), Input(buttons, "n_clicks"),
                                prevent_initial_call=True)

    @app.callback(
        Output(ids.SILENCE_MODAL, "is_open"),
        Output(ids.SILENCE_KEY, "data"),
        Output(ids.SILENCE_MATCHERS, "children"),
        Output(ids.SILENCE_ERROR, "children"),
        Input(ids.SILENCE_ASKED, "data"),
        Input(ids.SILENCE_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def open_dialog(asked, _cancel):
        if ctx.triggered_id == ids.SILENCE_CANCEL:
            return False, None, None, ""
        if not isinstance(asked, dict):
            raise PreventUpdate
        alert = find_alert(deps, asked.get("key"))
        if alert is None:
            return False, None, None, ""
        return True, alert["key"], alert_list.matchers_view(alert["label_set"]), ""

    @app.callback(
        Output(ids.SILENCE_MODAL, "is_open", allow_duplicate=True),
        Output(ids.SILENCE_ERROR, "children", allow_duplicate=True),
        Output(ids.ALERTS_CHANGED, "data"),
        Output(ids.ALERTS_FEEDBACK, "children"),
        Input(ids.SILENCE_CREATE, "n_clicks"),
        State(ids.SILENCE_KEY, "data"),
        State(ids.SILENCE_DURATION, "value"),
        State(ids.SILENCE_CUSTOM, "value"),
        State(ids.SILENCE_COMMENT, "value"),
        State(ids.ALERTS_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def create(clicks, key, duration, custom, comment, changed):
        user = access.require("silence")
        if not clicks:
            raise PreventUpdate
        try:
            seconds = alerts.silence_seconds(str(duration or ""), str(custom or ""))
            text = alerts.silence_comment(comment if isinstance(comment, str) else "")
        except ValueError as exc:
            return no_update, str(exc), no_update, no_update
        alert = find_alert(deps, key) if deps.alertmanager else None
        if alert is None:
            return no_update, "That alert is no longer active.", no_update, no_update
        now = time.time()
        labels = alert["label_set"]
        try:
            silence_id = deps.alertmanager.create_silence(labels, now, now + seconds,
                                                          user.name, text)
        except DatasourceError as exc:
            access.audit("silence.create", "error", matchers=labels, error=exc.describe())
            return no_update, exc.describe(), no_update, no_update
        access.audit("silence.create", "ok", silence_id=silence_id, matchers=labels,
                     seconds=seconds, comment=text)
        done = f"Silenced {alert['alertname']} for {human_duration(seconds)}."
        return False, "", _bump(changed), _feedback(done, "success")

    @app.callback(
        Output(ids.ALERTS_CHANGED, "data", allow_duplicate=True),
        Output(ids.ALERTS_FEEDBACK, "children", allow_duplicate=True),
        Input(ids.SILENCE_EXPIRE_ASKED, "data"),
        State(ids.ALERTS_CHANGED, "data"),
        prevent_initial_call=True,
    )
    def expire(asked, changed):
        access.require("silence")
        if not isinstance(asked, dict) or deps.alertmanager is None:
            raise PreventUpdate
        silence_id = str(asked.get("id", ""))[:100]
        try:
            deps.alertmanager.expire_silence(silence_id)
        except DatasourceError as exc:
            access.audit("silence.expire", "error", silence_id=silence_id, error=exc.describe())
            return no_update, _feedback(exc.describe(), "danger")
        access.audit("silence.expire", "ok", silence_id=silence_id)
        return _bump(changed), _feedback(f"Silence {silence_id} expired.", "success")


def unless_shown(parts, shown) -> list:
    """Each part, or ``no_update`` where the browser shows it already: children sent again
    are mounted anew, which drops a text selection and, during a click, the click."""
    return [no_update if shown_already(p, s) else p for p, s in zip(parts, shown, strict=True)]


def _bump(changed) -> int:
    # a counter the browser holds: anything but a small int starts it again
    ok = isinstance(changed, int) and not isinstance(changed, bool) and 0 <= changed < 1 << 30
    return (changed if ok else 0) + 1


def _feedback(text: str, color: str):
    return dbc.Alert(text, color=color, dismissable=True, className="py-1 small mb-2")


def _can_silence(deps) -> bool:
    return deps.alertmanager is not None and access.current_user().may("silence")


def alert_sources(deps, ttl: float | None = None) -> list[tuple]:
    """(name, ``Result``) of each alert source: Prometheus, and Alertmanager when set."""
    sources = [("Prometheus", deps.prometheus.alerts(ttl=ttl))]
    if deps.alertmanager is not None:
        sources.append(("Alertmanager", deps.alertmanager.alerts(ttl=ttl)))
    return sources


def find_alert(deps, key) -> dict | None:
    """The current alert with fingerprint ``key``, looked up on the server: a silence's
    matchers are the alert's own labels, never label text sent by a browser."""
    if not isinstance(key, str):
        return None
    frames = {name.lower(): r.value for name, r in alert_sources(deps, section_ttl(deps.config))}
    return alerts.find(alerts.merge(frames.get("prometheus"), frames.get("alertmanager")), key)


def section_ttl(config) -> float:
    """How long one answer serves every viewer: Prometheus changes target health and alert
    states once per scrape / rule evaluation (``metrics.scrape_interval``), so asking more
    often shows nothing new; never less than the upstream's ``cache_ttl``."""
    return max(config.prometheus.cache_ttl, config.metrics.scrape_interval)

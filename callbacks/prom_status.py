"""Status tab, Prometheus section: targets and alerts, refreshed with the Status tab."""

from __future__ import annotations

from dash import Input, Output, State
from dash.exceptions import PreventUpdate

from layouts import ids
from layouts import prom_status as view


def register(app, deps) -> None:
    """Fill ``ids.STATUS_PROM_SECTION`` on every Status refresh while that tab is shown."""

    @app.callback(
        Output(ids.STATUS_PROM_SECTION, "children"),
        Input(ids.STATUS_INTERVAL, "n_intervals"),
        Input(ids.STATUS_REFRESH, "n_clicks"),
        Input(ids.TABS, "value"),
        State(ids.STATUS_PROM_SECTION, "children"),
    )
    def refresh(_ticks, _clicks, tab, shown):
        if tab != "status":
            raise PreventUpdate  # filled when the tab is first shown, not on another's load
        if not deps.config.prometheus.enabled:
            return view.not_configured()
        ttl = section_ttl(deps.config)
        alerts = [("Prometheus", deps.prometheus.alerts(ttl=ttl))]
        if deps.alertmanager is not None:
            alerts.append(("Alertmanager", deps.alertmanager.alerts(ttl=ttl)))
        return view.section(deps.prometheus.targets(ttl=ttl), alerts)


def section_ttl(config) -> float:
    """How long one answer serves every viewer: Prometheus changes target health and alert
    states once per scrape / rule evaluation (``metrics.scrape_interval``), so asking more
    often shows nothing new; never less than the upstream's ``cache_ttl``."""
    return max(config.prometheus.cache_ttl, config.metrics.scrape_interval)

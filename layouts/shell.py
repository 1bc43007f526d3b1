"""The page frame: navbar and the three tabs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from config import Config
from layouts import ids, status
from layouts import logs as logs_tab
from layouts import metrics as metrics_tab


def navbar(config: Config):
    """Brand on the left, the configuration source on the right."""
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("stackscope", className="fw-bold"),
        html.Span(f"config: {config.source}", className="navbar-text small text-light"),
    ], fluid=True), color="dark", dark=True, className="mb-2")


def shell(config: Config, status_first=None, tab: str | None = None):
    """The whole page; each tab's body comes from its own layouts module.

    ``status_first``: the Status tab's cards as of now (``layouts.status.layout``'s ``first``);
    ``tab``: the tab shown first (one of ``ids.TAB_VALUES``; default the first).
    """
    bodies = (status.layout(config, status_first), metrics_tab.layout(config),
              logs_tab.layout(config))
    tabs = dcc.Tabs(id=ids.TABS, value=tab or ids.TAB_VALUES[0], children=[
        dcc.Tab(label=value.capitalize(), value=value, children=body)
        for value, body in zip(ids.TAB_VALUES, bodies, strict=True)])
    return html.Div([
        dcc.Location(id=ids.URL, refresh=False),
        navbar(config),
        dbc.Container(tabs, fluid=True),
    ])

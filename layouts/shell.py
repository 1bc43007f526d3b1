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


def shell(config: Config):
    """The whole page; each tab's body comes from its own layouts module."""
    tabs = dcc.Tabs(id=ids.TABS, value="status", children=[
        dcc.Tab(label="Status", value="status", id=ids.TAB_STATUS,
                children=status.layout(config)),
        dcc.Tab(label="Metrics", value="metrics", id=ids.TAB_METRICS,
                children=metrics_tab.layout(config)),
        dcc.Tab(label="Logs", value="logs", id=ids.TAB_LOGS,
                children=logs_tab.layout(config)),
    ])
    return html.Div([
        dcc.Location(id=ids.URL, refresh=False),
        navbar(config),
        dbc.Container(tabs, fluid=True),
    ])

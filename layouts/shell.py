"""The page frame: navbar and the three tabs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from config import Config
from layouts import ids, status


def not_built_yet(what: str):
    """Plainly says a tab is not built yet, rather than showing an empty page."""
    return dbc.Alert(f"The {what} tab is not built yet.", color="secondary", className="mt-3")


def navbar(config: Config):
    """Brand on the left, the configuration source on the right."""
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("stackscope", className="fw-bold"),
        html.Span(f"config: {config.source}", className="navbar-text small text-light"),
    ], fluid=True), color="dark", dark=True, className="mb-2")


def shell(config: Config, metrics=None, logs=None):
    """The whole page; each tab's body comes from its own layouts module."""
    tabs = dcc.Tabs(id=ids.TABS, value="status", children=[
        dcc.Tab(label="Status", value="status", id=ids.TAB_STATUS,
                children=status.layout(config)),
        dcc.Tab(label="Metrics", value="metrics", id=ids.TAB_METRICS,
                children=metrics if metrics is not None else not_built_yet("Metrics")),
        dcc.Tab(label="Logs", value="logs", id=ids.TAB_LOGS,
                children=logs if logs is not None else not_built_yet("Logs")),
    ])
    return html.Div([
        dcc.Location(id=ids.URL, refresh=False),
        navbar(config),
        dbc.Container(tabs, fluid=True),
    ])

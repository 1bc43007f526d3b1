"""The page frame: navbar and the three tabs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

import access
from config import Config
from layouts import ids, status
from layouts import logs as logs_tab
from layouts import metrics as metrics_tab


def navbar(config: Config, user: access.User = access.ANONYMOUS):
    """Brand on the left; the user and role, and for admins the configuration source and the
    audit log, on the right."""
    from layouts import audit

    right = [html.Span(f"{user.name} ({user.role})", id=ids.NAV_USER,
                       className="navbar-text small text-light me-3")]
    if user.may("config"):
        right.append(html.Span(f"config: {config.source}", id=ids.NAV_CONFIG,
                               className="navbar-text small text-light me-3"))
    right.extend(audit.button_and_modal(visible=user.may("audit")))
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("stackscope", className="fw-bold"),
        html.Div(right, className="d-flex align-items-center"),
    ], fluid=True), color="dark", dark=True, className="mb-2")


def shell(config: Config, status_first=None, tab: str | None = None,
          user: access.User = access.ANONYMOUS):
    """The whole page; each tab's body comes from its own layouts module.

    ``status_first``: the Status tab's cards as of now (``layouts.status.layout``'s ``first``);
    ``tab``: the tab shown first (one of ``ids.TAB_VALUES``; default the first);
    ``user``: who the page is for (``access.current_user()`` when served).
    """
    bodies = (status.layout(config, status_first), metrics_tab.layout(config),
              logs_tab.layout(config))
    tabs = dcc.Tabs(id=ids.TABS, value=tab or ids.TAB_VALUES[0], children=[
        dcc.Tab(label=value.capitalize(), value=value, children=body)
        for value, body in zip(ids.TAB_VALUES, bodies, strict=True)])
    return html.Div([
        dcc.Location(id=ids.URL, refresh=False),
        navbar(config, user),
        dbc.Container(tabs, fluid=True),
    ])

"""The admins' audit log: a navbar button opening a modal of the latest entries."""

from __future__ import annotations

import time

import dash_bootstrap_components as dbc
from dash import html

from layouts import ids

COLUMNS = ("time", "user", "role", "addr", "event", "result", "detail")


def button_and_modal(visible: bool) -> list:
    """The "Audit" button (shown to admins only) and its empty modal."""
    button = dbc.Button("Audit", id=ids.AUDIT_OPEN, size="sm", color="secondary",
                        outline=True, style=None if visible else {"display": "none"})
    modal = dbc.Modal([dbc.ModalHeader(dbc.ModalTitle("Audit log")),
                       dbc.ModalBody(id=ids.AUDIT_BODY)],
                      id=ids.AUDIT_MODAL, size="xl", scrollable=True, is_open=False)
    return [button, modal]


def table(entries: list[dict]):
    """The entries, newest first, as a small table."""
    if not entries:
        return html.P("No entries yet.", className="text-muted")
    head = html.Thead(html.Tr([html.Th(c) for c in COLUMNS]))
    rows = [html.Tr([html.Td(cell) for cell in _cells(e)]) for e in entries]
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, className="small")


def _cells(entry: dict) -> list[str]:
    known = {"time", "user", "role", "addr", "event", "result"}
    when = entry.get("time")
    shown = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if isinstance(
        when, (int, float)) else ""
    detail = ", ".join(f"{k}={v}" for k, v in sorted(entry.items()) if k not in known)
    return [shown, *(str(entry.get(k, "")) for k in COLUMNS[1:-1]), detail]

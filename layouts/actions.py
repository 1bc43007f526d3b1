"""Actions on the Status cards: the buttons, the confirmation dialog, the webhook's answer.

A card gets ``buttons(...)``; the Status tab gets one ``dialog()`` (outside the cards, which
are redrawn every few seconds). What the dialog shows comes from the server: the question
from the configuration, the service, the user, then the answer (status and body, scrubbed).
"""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids


def buttons(service: str, actions: Sequence[tuple[str, str | None]]):
    """One small button per action of ``service``: (name, why it may not run, or None)."""
    if not actions:
        return None
    return html.Div([
        dbc.Button(name, id={"type": ids.ACTION_RUN, "action": name, "service": service},
                   size="sm", color="warning", outline=True, className="me-1 action-button",
                   n_clicks=0, disabled=why is not None, title=why or f"{name} {service}…")
        for name, why in actions], className="status-actions mt-2")


def dialog():
    """The confirmation dialog and the store of the action asked for."""
    return html.Div([
        dcc.Store(id=ids.ACTION_PENDING),
        dbc.Modal([
            dbc.ModalHeader(dbc.ModalTitle("Run an action")),
            dbc.ModalBody([
                html.Div(id=ids.ACTION_PROMPT),
                dcc.Loading(html.Div(id=ids.ACTION_RESULT, className="action-result mt-2"),
                            type="circle"),
            ]),
            dbc.ModalFooter([
                dbc.Button("Close", id=ids.ACTION_CANCEL, color="secondary", n_clicks=0),
                dbc.Button("Run", id=ids.ACTION_CONFIRM, color="danger", n_clicks=0),
            ]),
        ], id=ids.ACTION_MODAL, is_open=False, backdrop="static"),
    ])


def prompt(question: str, action: str, service: str, user: str, role: str, call: str):
    """What the dialog asks before running: the question, the service, who asks and the
    request it sends (``call``: method and URL, secrets already out)."""
    return html.Div([
        html.P(question, className="action-question fw-semibold"),
        html.Div([html.Span("Action: ", className="text-muted"), action]),
        html.Div([html.Span("Service: ", className="text-muted"),
                  html.Span(service, className="action-service")]),
        html.Div([html.Span("As: ", className="text-muted"),
                  html.Span(f"{user} ({role})", className="action-user")]),
        html.Div([html.Span("Calls: ", className="text-muted"),
                  html.Code(call, className="action-call")], className="text-break"),
    ])


def refused(message: str):
    """Why the action cannot run (shown instead of a prompt; Run stays disabled)."""
    return dbc.Alert(message, color="warning", className="action-refused mb-0")


def result(status: int, reason: str, body: str, truncated: bool, seconds: float, ok: bool):
    """The webhook's answer: its status, how long it took, its body (already scrubbed)."""
    head = html.Div([
        dbc.Badge(f"HTTP {status} {reason}".strip(), color="success" if ok else "danger",
                  className="action-status me-2"),
        html.Span(f"answered in {seconds:.1f} s", className="text-muted small"),
    ])
    shown = [html.Pre(body, className="action-body small border rounded p-2 mt-2 mb-0")] if (
        body) else [html.Div("(empty body)", className="text-muted small mt-2")]
    more = [html.Div("(cut: the answer is longer)", className="text-muted small")] if (
        truncated) else []
    return html.Div([head, *shown, *more], className="action-answer")


def failed(message: str):
    """The action got no answer (refused, timed out) or could not start (busy)."""
    return dbc.Alert(message, color="danger", className="action-error mb-0")

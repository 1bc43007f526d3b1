"""Status tab, Prometheus section: scrape-target health and firing/pending alerts.

Targets come from Prometheus' ``/api/v1/targets``; alerts from its ``/api/v1/alerts`` and,
when configured, Alertmanager's ``/api/v2/alerts``. Each source keeps its own stale badge or
error, so a down Alertmanager does not hide Prometheus' answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC

import dash_bootstrap_components as dbc
from dash import html

from layouts.common import result_notice
from query import alerts
from query.timerange import human_duration

MAX_ROWS = 200
STATE_COLOURS = {"firing": "danger", "pending": "warning", "up": "success", "down": "danger"}
SEVERITY_COLOURS = {"critical": "danger", "page": "danger", "error": "danger",
                    "warning": "warning", "info": "info"}


def section(targets, alert_sources: Sequence[tuple],
            now: float | None = None):
    """The whole section: a heading, the targets card and the alerts card (each a ``Result``)."""
    now = time.time() if now is None else now
    return html.Div([
        html.H5("Prometheus", className="mb-2"),
        dbc.Row([
            dbc.Col(targets_card(targets, now), xl=6, className="mb-3"),
            dbc.Col(alerts_card(alert_sources, now), xl=6, className="mb-3"),
        ]),
    ], className="prom-status")


def not_configured():
    """What the section says when no Prometheus URL is set."""
    return html.Div([html.H5("Prometheus", className="mb-2"),
                     dbc.Alert("No Prometheus URL configured ([prometheus] url).",
                               color="secondary", className="py-2")], className="prom-status")


def ago(when, now: float) -> str:
    """"12s ago", "5m ago", "3h ago", "2d ago"; "never" for a missing time."""
    if _missing(when):
        return "never"
    return human_duration(max(0.0, now - when.timestamp()), whole=True) + " ago"


def utc(when) -> str:
    """A timestamp as "YYYY-MM-DD HH:MM:SS UTC" for a tooltip."""
    if _missing(when):
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _missing(when) -> bool:
    return when is None or when != when  # NaT and NaN are not equal to themselves


def _card(title: str, summary: list, notices: list, body):
    header = dbc.CardHeader(html.Div([html.Span(title, className="fw-semibold me-2"), *summary],
                                     className="d-flex align-items-center flex-wrap gap-2"))
    return dbc.Card([header, dbc.CardBody([*notices, body], className="p-2")],
                    className="h-100 prom-status-card")


def targets_card(result, now: float):
    """Scrape targets: job, instance, up/down, last scrape, last error."""
    frame = result.value if result is not None else None
    notices = [n for n in [result_notice(result)] if n is not None]
    if frame is None:
        return _card("Scrape targets", [], notices, html.Div("no target list",
                                                              className="text-muted small"))
    up = int((frame["health"] == "up").sum())
    summary = [dbc.Badge(f"{up}/{len(frame)} up",
                         color="success" if up == len(frame) else "danger")]
    if frame.empty:
        return _card("Scrape targets", summary, notices,
                     html.Div("Prometheus has no scrape targets.", className="text-muted small"))
    head = html.Thead(html.Tr([html.Th(c) for c in ("Job", "Instance", "State", "Last scrape",
                                                     "Last error")]))
    rows = [_target_row(r, now) for r in frame.head(MAX_ROWS).itertuples(index=False)]
    return _card("Scrape targets", summary, notices + _more(len(frame)),
                 dbc.Table([head, html.Tbody(rows)], size="sm", hover=True,
                           className="mb-0 prom-targets", responsive=True))


def _target_row(t, now: float):
    state = {"up": "up", "down": "down"}.get(t.health, t.health)
    return html.Tr([
        html.Td(t.job), html.Td(t.instance, className="text-break"),
        html.Td(dbc.Badge(state, color=STATE_COLOURS.get(state, "secondary"))),
        html.Td(ago(t.last_scrape, now), title=utc(t.last_scrape), className="text-nowrap"),
        html.Td(t.last_error, className="prom-error small text-danger"),
    ], className=f"prom-target prom-target-{state}")


def _more(total: int) -> list:
    if total <= MAX_ROWS:
        return []
    return [html.Div(f"showing {MAX_ROWS} of {total}", className="small text-muted")]


def alerts_card(sources: Sequence[tuple], now: float):
    """Firing and pending alerts from every (name, ``Result``) source, firing first."""
    notices = [n for _, r in sources if (n := result_notice(r)) is not None]
    frame = alerts.active([(name, r.value) for name, r in sources])
    if frame is None:
        return _card("Alerts", [], notices, html.Div("no alert list",
                                                      className="text-muted small"))
    firing, pending = alerts.counts(frame)
    summary = [dbc.Badge(f"{firing} firing", color="danger" if firing else "secondary"),
               dbc.Badge(f"{pending} pending", color="warning" if pending else "secondary",
                         text_color="dark" if pending else None)]
    if frame.empty:
        return _card("Alerts", summary, notices,
                     html.Div("No alerts firing or pending.", className="text-muted small"))
    head = html.Thead(html.Tr([html.Th(c) for c in ("State", "Alert", "Severity", "Since",
                                                     "Summary", "Source")]))
    rows = [_alert_row(a, now) for a in frame.head(MAX_ROWS).itertuples(index=False)]
    return _card("Alerts", summary, notices + _more(len(frame)),
                 dbc.Table([head, html.Tbody(rows)], size="sm", hover=True,
                           className="mb-0 prom-alerts", responsive=True))


def _alert_row(a, now: float):
    severity = a.severity or ""
    return html.Tr([
        html.Td(dbc.Badge(a.state, color=STATE_COLOURS.get(a.state, "secondary"),
                          text_color="dark" if a.state == "pending" else None)),
        html.Td([html.Div(a.alertname, className="fw-semibold"),
                 *([html.Div(a.labels, className="small text-muted text-break")]
                   if a.labels not in ("", "{}") else [])]),
        html.Td(dbc.Badge(severity, color=SEVERITY_COLOURS.get(severity.lower(), "secondary"))
                if severity else "—"),
        html.Td(ago(a.active_at, now), title=utc(a.active_at), className="text-nowrap"),
        html.Td(a.summary or "—", className="small"),
        html.Td(a.source, className="small text-muted"),
    ], className=f"prom-alert prom-alert-{a.state}")

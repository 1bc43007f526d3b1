"""Status tab: the merged alert list (grouped by alertname), silences and alert history.

The filters, the silence dialog and the history chart are drawn once with the tab; the list
and the silences are drawn again on each refresh that changed them, in
``ids.STATUS_PROM_ALERTS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from layouts import ids
from layouts.common import graph_config, result_notice
from query import alerts
from query.chart import plain_text
from query.timerange import human_duration

MAX_ROWS = 200
STATE_COLOURS = {"firing": "danger", "pending": "warning", "silenced": "secondary",
                 "inhibited": "info"}
SEVERITY_COLOURS = {"critical": "danger", "page": "danger", "error": "danger",
                    "warning": "warning", "info": "info"}
HISTORY_WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
DEFAULT_WINDOW = "6h"


def controls():
    """Filters for the list, and the history window: drawn once, kept across refreshes."""
    return dbc.Row([
        dbc.Col(dbc.Checklist(id=ids.ALERTS_STATE_FILTER, inline=True, value=[],
                              options=[{"label": s, "value": s} for s in alerts.STATES]),
                width="auto"),
        dbc.Col(dcc.Dropdown(id=ids.ALERTS_SEVERITY_FILTER, multi=True, value=[],
                             placeholder="severity", options=[]), md=3),
        dbc.Col(dbc.Input(id=ids.ALERTS_LABEL_FILTER, placeholder='label: team=ops, or text',
                          size="sm", debounce=True, maxLength=200), md=3),
    ], className="g-2 align-items-center mb-2 alerts-filters")


def silence_dialog():
    """The "silence this alert" dialog: matchers shown, duration and comment asked."""
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle("Silence alert")),
        dbc.ModalBody([
            html.Div("Matchers (all must be equal):", className="small text-muted"),
            html.Div(id=ids.SILENCE_MATCHERS, className="mb-2 silence-matchers"),
            dbc.Label("Duration", html_for=ids.SILENCE_DURATION, className="small"),
            dbc.Select(id=ids.SILENCE_DURATION, value="2h", size="sm",
                       options=[{"label": c, "value": c} for c in alerts.SILENCE_CHOICES]),
            dbc.Input(id=ids.SILENCE_CUSTOM, placeholder="custom, e.g. 90m, 3h, 2d", size="sm",
                      className="mt-1", maxLength=20),
            dbc.Label("Comment", html_for=ids.SILENCE_COMMENT, className="small mt-2"),
            dbc.Textarea(id=ids.SILENCE_COMMENT, maxLength=alerts.COMMENT_MAX,
                         placeholder="why, and who to ask"),
            html.Div(id=ids.SILENCE_ERROR, className="text-danger small mt-2"),
            dcc.Store(id=ids.SILENCE_KEY),
        ]),
        dbc.ModalFooter([
            dbc.Button("Cancel", id=ids.SILENCE_CANCEL, color="secondary", size="sm",
                       n_clicks=0),
            dbc.Button("Create silence", id=ids.SILENCE_CREATE, color="primary", size="sm",
                       n_clicks=0),
        ]),
    ], id=ids.SILENCE_MODAL, is_open=False)


def frame_parts():
    """Everything static around the refreshed section: filters, feedback, dialog, stores."""
    return [controls(), html.Div(id=ids.ALERTS_FEEDBACK), silence_dialog(),
            dcc.Store(id=ids.ALERTS_CHANGED, data=0), dcc.Store(id=ids.SILENCE_ASKED),
            dcc.Store(id=ids.SILENCE_EXPIRE_ASKED)]


def history_card():
    """The alert-history timeline, with its window choice."""
    window = dbc.Select(id=ids.ALERTS_HISTORY_WINDOW, value=DEFAULT_WINDOW, size="sm",
                        options=[{"label": w, "value": w} for w in HISTORY_WINDOWS],
                        style={"width": "6rem"})
    header = dbc.CardHeader(html.Div([html.Span("Alert history", className="fw-semibold me-2"),
                                      window],
                                     className="d-flex align-items-center gap-2"))
    return dbc.Card([header, dbc.CardBody(html.Div(id=ids.ALERTS_HISTORY), className="p-2")],
                    className="mb-3 alert-history-card")


def summary_badges(counts: Mapping[str, int]) -> list:
    """"N firing", "N pending", and silenced / inhibited when there are any."""
    badges = []
    for state in alerts.STATES:
        n = counts.get(state, 0)
        if n or state in ("firing", "pending"):
            badges.append(dbc.Badge(f"{n} {state}",
                                    color=STATE_COLOURS[state] if n else "secondary",
                                    text_color="dark" if n and state == "pending" else None,
                                    className=f"alerts-count alerts-count-{state}"))
    return badges


def alert_groups(frame, *, can_silence: bool, total: int):
    """The (filtered) alerts, grouped by alertname with counts; at most ``MAX_ROWS``."""
    if frame.empty:
        text = "No alerts match the filters." if total else "No alerts firing or pending."
        return html.Div(text, className="text-muted small")
    shown = frame.head(MAX_ROWS)
    parts = [_group(name, rows, can_silence) for name, rows in alerts.groups(shown)]
    if len(frame) > MAX_ROWS:
        parts.append(html.Div(f"showing {MAX_ROWS} of {len(frame)}",
                              className="small text-muted"))
    return html.Div(parts, className="alert-groups")


def _group(name: str, rows, can_silence: bool):
    head = html.Div([html.Span(name or "(no alertname)", className="fw-semibold me-2"),
                     dbc.Badge(str(len(rows)), color="dark", pill=True,
                               className="alert-group-count")],
                    className="alert-group-head d-flex align-items-center")
    items = [_alert(a, can_silence) for a in rows.to_dict("records")]
    return html.Div([head, html.Div(items)], className="alert-group mb-2",
                    **{"data-alertname": name})


def _alert(a: Mapping, can_silence: bool):
    state, severity = a["state"], a["severity"] or ""
    top = [dbc.Badge(state, color=STATE_COLOURS.get(state, "secondary"),
                     text_color="dark" if state == "pending" else None,
                     className="alert-state me-1"),
           *([dbc.Badge(severity, color=SEVERITY_COLOURS.get(severity.lower(), "secondary"),
                        className="me-1")] if severity else []),
           *[html.Span(c, className="badge rounded-pill text-bg-light border me-1 label-chip")
             for c in alerts.label_chips(a["label_set"], ("alertname", "severity"))],
           *[dbc.Badge(s, color="light", text_color="secondary",
                       className="me-1 alert-source") for s in a["sources"]],
           *_links(a), *_silence_button(a, can_silence)]
    body = [html.Div(top, className="d-flex flex-wrap align-items-center gap-1")]
    if a["summary"]:
        body.append(html.Div(a["summary"], className="small"))
    return html.Div(body, className=f"alert-item alert-item-{state} border-top py-1",
                    title=_since_title(a["active_at"]))


def _links(a: Mapping) -> list:
    # Only URLs that query.alerts.safe_url passed: http(s) with a host, never javascript:.
    return [html.A(text, href=a[key], target="_blank", rel="noopener noreferrer",
                   className="small me-1 alert-link")
            for key, text in (("runbook_url", "runbook"), ("dashboard_url", "dashboard"))
            if a[key]]


def _silence_button(a: Mapping, can_silence: bool) -> list:
    if not can_silence or a["state"] == "silenced":
        return []
    return [dbc.Button("Silence", id={"type": ids.SILENCE_OPEN, "key": a["key"]}, size="sm",
                       color="link", className="p-0 ms-auto small silence-open", n_clicks=0)]


def _since_title(when) -> str:
    if when is None or when != when:
        return ""
    return "active since " + when.strftime("%Y-%m-%d %H:%M:%S UTC")


def matchers_view(labels: Mapping[str, str]):
    """The matchers a silence of ``labels`` will have, as chips."""
    return html.Div([html.Span(f'{k}="{v}"', className="badge text-bg-light border me-1")
                     for k, v in sorted(labels.items())])


def silences_list(frame, now: float, can_silence: bool = False):
    """Active and pending silences, each with an Expire button."""
    if frame is None:
        return None
    if frame.empty:
        return html.Div("No active silences.", className="text-muted small")
    items = [_silence(s, now, can_silence) for s in frame.head(MAX_ROWS).to_dict("records")]
    return html.Div([html.Div("Silences", className="fw-semibold mt-2"), *items],
                    className="silences")


def _silence(s: Mapping, now: float, can_silence: bool):
    ends = s["ends_at"]
    left = "" if ends != ends else _left(ends.timestamp() - now)
    expire = [dbc.Button("Expire", id={"type": ids.SILENCE_EXPIRE, "id": s["id"]}, size="sm",
                         color="link", className="p-0 ms-auto small silence-expire",
                         n_clicks=0)] if can_silence else []
    return html.Div([
        html.Div([dbc.Badge(s["state"], color="secondary", className="me-1"),
                  html.Code(s["matchers"], className="small text-break me-2"),
                  html.Span(f"by {s['created_by']}, {left}", className="small text-muted"),
                  *expire],
                 className="d-flex flex-wrap align-items-center gap-1"),
        html.Div(s["comment"], className="small"),
    ], className="silence-item border-top py-1")


def _left(seconds: float) -> str:
    return f"ends in {human_duration(max(seconds, 0), whole=True)}"


def history_figure(frame, window: tuple[float, float] | None = None):
    """One row per alert (name and labels), a bar for each stretch it fired, over ``window``
    (epoch seconds) when given."""
    fig = go.Figure()
    if window is not None:
        fig.update_xaxes(type="date", range=[datetime.fromtimestamp(t, UTC).isoformat()
                                             for t in window])
    if frame is not None and not frame.empty:
        ms = (frame["end"] - frame["start"]).dt.total_seconds() * 1000
        # Label values are untrusted: escaped, never plotly's HTML subset (a live <a href>).
        names = frame["alert"].map(plain_text)
        spans = (names + "<br>" + frame["start"].dt.strftime("%Y-%m-%d %H:%M") + " to "
                 + frame["end"].dt.strftime("%H:%M UTC"))
        fig.add_bar(y=names, base=frame["start"], x=ms, orientation="h",
                    marker_color="#dc3545", hovertext=spans,
                    hovertemplate="%{hovertext}<extra></extra>")
        fig.update_xaxes(type="date")
    rows = 0 if frame is None else frame["alert"].nunique()
    fig.update_layout(height=max(120, 60 + 24 * min(rows, 30)), showlegend=False,
                      margin={"l": 10, "r": 10, "t": 10, "b": 30}, bargap=0.3,
                      yaxis={"automargin": True, "autorange": "reversed"})
    return fig


def history(result, window: tuple[float, float] | None = None) -> list:
    """The history card's body for a ``Result`` of ``firing_intervals`` over ``window``."""
    notices = [n for n in [result_notice(result)] if n is not None]
    frame = result.value if result is not None else None
    if frame is not None and frame.empty:
        return [*notices, html.Div("No alert fired in this window.",
                                   className="text-muted small")]
    if frame is None:
        return notices
    return [*notices, dcc.Graph(figure=history_figure(frame, window), config=graph_config(),
                                className="alert-history-graph")]


def severity_options(values: Sequence[str]) -> list[dict]:
    """The severity filter's choices."""
    return [{"label": v, "value": v} for v in values]

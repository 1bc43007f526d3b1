"""Status tab: one card per service, grouped, with its heartbeat bar, response-time chart,
uptime and coverage, and the incidents list under the cards."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

import dash_bootstrap_components as dbc
from dash import dcc, html

from config import Config
from layouts import actions as actions_view
from layouts import ids, prom_status
from layouts import status_history as part
from query.probe_state import cert_days, state

WINDOWS = ("1h", "24h", "7d")


def layout(config: Config, first: Sequence | None = None):
    """The Status tab's frame; the cards arrive from the refresh callback.

    ``first`` is the refresh callback's outputs for the latest probe round (summary, its
    class, checked, cards, error, incidents), drawn with the page so the first card needs no
    round trip.
    """
    summary, summary_class, checked, cards_, error, incidents = first or (None,) * 6
    controls = html.Div([
        dbc.Button("Pause", id=ids.STATUS_PAUSE, color="secondary", outline=True, size="sm",
                   className="me-2", n_clicks=0),
        dbc.Button("Refresh now", id=ids.STATUS_REFRESH, color="primary", size="sm",
                   n_clicks=0),
    ], className="ms-auto")
    header = html.Div([
        html.H4(summary, id=ids.STATUS_SUMMARY, className=summary_class or "mb-0 me-3"),
        html.Span(checked, id=ids.STATUS_CHECKED, className="text-muted small"),
        controls,
    ], className="d-flex align-items-center my-3")
    return html.Div([
        dcc.Interval(id=ids.STATUS_INTERVAL, interval=config.refresh.status * 1000),
        dcc.Store(id=ids.STATUS_EXPANDED, data=[]),
        header,
        html.Div(error, id=ids.STATUS_ERROR),
        html.Div(cards_, id=ids.STATUS_CARDS),
        part.incidents_section(incidents),
        prom_status.container(),
        actions_view.dialog(),
    ])


def summary_text(results: Sequence) -> str:
    """'N/M services up'."""
    up = sum(r.up for r in results)
    return f"{up}/{len(results)} services up"


def summary_class(results: Sequence) -> str:
    """Green when every service is up, red otherwise."""
    ok = results and all(r.up for r in results)
    return "mb-0 me-3 " + ("status-summary-ok" if ok else "status-summary-bad")


def checked_text(results: Sequence) -> str:
    """When the shown round was probed."""
    if not results:
        return ""
    at = max(r.checked_at for r in results)
    return "checked at " + time.strftime("%H:%M:%S UTC", time.gmtime(at))


@dataclass(frozen=True)
class CardHistory:
    """What the history says about each service, for its card (all keyed by name)."""

    uptime: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    #: seconds of each uptime window the history covers
    coverage: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: per-minute average latency over the last hour: (minute start, ms)
    latency: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    #: the last probes, oldest first (``query.incidents.Probe``)
    recent: Mapping[str, Sequence] = field(default_factory=dict)
    #: the newest run (``query.incidents.Run``): the state now and since when
    runs: Mapping[str, object] = field(default_factory=dict)
    #: per-minute latency over 24 h, for the expanded cards only
    day: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    now: float = 0.0


def cards(results: Sequence, history: CardHistory, actions: Mapping | None = None):
    """Cards grouped by their service's group, in configuration order; ``actions``: service
    name -> its action buttons (``layouts.actions.buttons``)."""
    actions = actions or {}
    order = {}
    for r in results:
        order.setdefault(r.group, len(order))
    sections = []
    for group, members in groupby(sorted(results, key=lambda r: order[r.group]),
                                  key=lambda r: r.group):
        row = html.Div([card(r, history, actions.get(r.name)) for r in members],
                       className="status-group-cards")
        title = html.H6(group or "services", className="text-uppercase text-muted")
        sections.append(html.Section([title, row], className="status-group"))
    return html.Div(sections, className="status-groups")


def card(r, history: CardHistory, actions=None):
    """One service: name, state, target, latency, detail, heartbeat, uptime, response time."""
    now_state = state(r)
    expanded = r.name in history.day
    latency_text = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "—"
    recent = history.recent.get(r.name, [])
    points, what = part.response_points(history.latency.get(r.name, []), recent)
    body = [
        html.Div([html.H5(r.name, className="card-title mb-0 me-2"),
                  part.state_badge(now_state)],
                 className="d-flex align-items-center justify-content-between"),
        html.Div(r.target, className="text-muted small text-truncate", title=r.target),
        html.Div([html.Span(latency_text, className="status-latency me-2"),
                  html.Span(r.detail, className="status-detail small")], className="mt-1"),
        part.state_hint(now_state),
        part.down_since_line(history.runs.get(r.name), history.now)
        if now_state == "down" else None,
        part.cert_badge(cert_days(r)),
        part.heartbeat(recent),
        part.uptime_rows(history.uptime.get(r.name, {}), history.coverage.get(r.name, {}),
                         uptime_text),
        part.chart(points, what, "the last hour" if what.startswith("per") else "recent probes",
                   empty="no answer to time lately" if recent else "no response times yet"),
    ]
    if expanded:
        body.append(html.Div([html.Div("last 24 hours", className="small text-muted mt-2"),
                              part.chart([(float(t), v) for t, v in history.day[r.name]],
                                         "per-minute average", "24 hours", 560, 140)]))
    body.append(actions)  # layouts/actions.py: the service's action buttons, or None
    body.append(part.expand_button(r.name, expanded))
    classes = f"status-card {part.border_class(now_state)}"
    return dbc.Card(dbc.CardBody([b for b in body if b is not None]),
                    className=classes + (" status-card-expanded" if expanded else ""),
                    id={"type": ids.STATUS_CARD, "name": r.name})


def uptime_text(ratio: float | None) -> str:
    """'100%', '0%', '99.7%'; '—' before the first probe."""
    if ratio is None:
        return "—"
    return f"{ratio * 100:.0f}%" if ratio in (0.0, 1.0) else f"{ratio * 100:.1f}%"


def refresh_throttled(interval: float):
    """Why "Refresh now" showed the latest round instead of probing again."""
    return html.Div(f"Refresh now probes again at most once every {interval:g} s per browser "
                    "(limits.force_interval): showing the latest round.",
                    className="status-throttled small text-muted")

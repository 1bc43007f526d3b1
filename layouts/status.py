"""Status tab: one card per service, grouped, with uptime and a latency sparkline."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from itertools import groupby

import dash_bootstrap_components as dbc
from dash import dcc, html

from config import Config
from layouts import ids, prom_status

WINDOWS = ("1h", "24h", "7d")


def layout(config: Config, first: Sequence | None = None):
    """The Status tab's frame; the cards arrive from the refresh callback.

    ``first`` is the refresh callback's outputs for the latest probe round (summary, its
    class, checked, cards, error), drawn with the page so the first card needs no round trip.
    """
    summary, summary_class, checked, cards_, error = first or (None, None, None, None, None)
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
        header,
        html.Div(error, id=ids.STATUS_ERROR),
        html.Div(cards_, id=ids.STATUS_CARDS),
        prom_status.container(),
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


def cards(results: Sequence, uptime: Mapping[str, Mapping[str, float | None]],
          latency: Mapping[str, Sequence[tuple[int, float]]]):
    """Cards grouped by their service's group, in configuration order."""
    order = {}
    for r in results:
        order.setdefault(r.group, len(order))
    sections = []
    for group, members in groupby(sorted(results, key=lambda r: order[r.group]),
                                  key=lambda r: r.group):
        row = html.Div([card(r, uptime.get(r.name, {}), latency.get(r.name, []))
                        for r in members], className="status-group-cards")
        title = html.H6(group or "services", className="text-uppercase text-muted")
        sections.append(html.Section([title, row], className="status-group"))
    return html.Div(sections, className="status-groups")


def card(r, uptime: Mapping[str, float | None],
         latency: Sequence[tuple[int, float]]):
    """One service: name, Up/Offline, target, latency, detail, uptime and sparkline."""
    state = dbc.Badge("Up" if r.up else "Offline", color="success" if r.up else "danger",
                      className="status-state")
    latency_text = f"{r.latency_ms:.1f} ms" if r.latency_ms is not None else "—"
    body = dbc.CardBody([
        html.Div([html.H5(r.name, className="card-title mb-0 me-2"), state],
                 className="d-flex align-items-center justify-content-between"),
        html.Div(r.target, className="text-muted small text-truncate", title=r.target),
        html.Div([html.Span(latency_text, className="status-latency me-2"),
                  html.Span(r.detail, className="status-detail small")], className="mt-1"),
        html.Div([_uptime_chip(w, uptime.get(w)) for w in WINDOWS], className="mt-2"),
        html.Img(src=sparkline_uri(latency), className="sparkline mt-2",
                 alt="latency over the last hour", title=_sparkline_title(latency)),
    ])
    colour = "success" if r.up else "danger"
    return dbc.Card(body, className=f"status-card border-{colour}",
                    id={"type": ids.STATUS_CARD, "name": r.name})


def _uptime_chip(window: str, ratio: float | None):
    return html.Span([html.Span(window, className="text-muted me-1"), uptime_text(ratio)],
                     className="uptime-chip me-2 small")


def uptime_text(ratio: float | None) -> str:
    """'100%', '0%', '99.7%'; '—' before the first probe."""
    if ratio is None:
        return "—"
    return f"{ratio * 100:.0f}%" if ratio in (0.0, 1.0) else f"{ratio * 100:.1f}%"


def _sparkline_title(points: Sequence[tuple[int, float]]) -> str:
    if not points:
        return "no latency data yet"
    values = [v for _, v in points]
    return f"latency, last hour: min {min(values):.1f} ms, max {max(values):.1f} ms"


def sparkline_uri(points: Sequence[tuple[int, float]], width: int = 220,
                  height: int = 32) -> str:
    """An inline SVG sparkline: light enough for 50 cards refreshed every few seconds."""
    if len(points) < 2:
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
               f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" '
               'stroke="#ced4da" stroke-dasharray="3,3"/></svg>')
    else:
        t0, t1 = points[0][0], points[-1][0]
        top = max(v for _, v in points) or 1.0
        coords = " ".join(
            f"{(t - t0) / (t1 - t0) * (width - 2) + 1:.1f},"
            f"{height - 2 - v / top * (height - 4):.1f}" for t, v in points)
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
               f'<polyline fill="none" stroke="#0d6efd" stroke-width="1.5" '
               f'points="{coords}"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def refresh_throttled(interval: float):
    """Why "Refresh now" showed the latest round instead of probing again."""
    return html.Div(f"Refresh now probes again at most once every {interval:g} s per browser "
                    "(limits.force_interval): showing the latest round.",
                    className="status-throttled small text-muted")

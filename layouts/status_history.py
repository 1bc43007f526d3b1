"""The Status cards' history pieces: state badge, heartbeat bar, response-time chart, uptime
with its coverage, "down since", certificate warning, and the incidents table.

Pure components from plain values (probes, runs, incidents as ``query.incidents`` defines
them); nothing here reads the history itself.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping, Sequence
from html import escape

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts import ids
from query.incidents import Incident, Run, down_since, duration_text, end_word
from query.probe_state import CERT_WARN_DAYS

#: probes shown in a card's heartbeat bar
HEARTBEAT = 40
#: with fewer per-minute buckets than this the chart draws the raw recent probes instead
MIN_BUCKETS = 5
WINDOW_SECONDS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}

#: state → (badge text, Bootstrap colour, what it means)
STATE_LOOK = {
    "up": ("Up", "success", "answering"),
    "pending": ("Pending", "warning", "failing, retried before it counts as down"),
    "down": ("Offline", "danger", "not answering"),
    "maintenance": ("Maintenance", "secondary", "in a maintenance window: not counted"),
    "degraded": ("Degraded", "orange", "up, but queries fail"),
}


def clock(at: float) -> str:
    """24-hour UTC time of day: '13:05:09'."""
    return time.strftime("%H:%M:%S", time.gmtime(at))


def stamp(at: float) -> str:
    """UTC date and time for the incidents table: '2026-12-02 13:05:09'."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def state_badge(state: str):
    """The card's state badge; its title says what the state means."""
    text, colour, meaning = STATE_LOOK.get(state, STATE_LOOK["down"])
    return dbc.Badge(text, color="warning" if colour == "orange" else colour,
                     className=f"status-state state-{state}", title=meaning)


def state_hint(state: str):
    """A line under the detail for the states "Up"/"Offline" do not explain."""
    if state not in ("pending", "maintenance", "degraded"):
        return None
    return html.Div(STATE_LOOK[state][2], className=f"status-hint small state-text-{state}")


def border_class(state: str) -> str:
    """The card's coloured left border."""
    colour = STATE_LOOK.get(state, STATE_LOOK["down"])[1]
    return f"border-{colour}" if colour != "orange" else "border-orange"


def cert_badge(days: float | None):
    """'cert expires in N d' under 14 days (amber), 'cert expired N d ago' (red); else None."""
    if days is None or days >= CERT_WARN_DAYS:
        return None
    if days < 0:
        text, colour = f"cert expired {math.ceil(-days)} d ago", "danger"
    else:
        text, colour = f"cert expires in {math.floor(days)} d", "warning"
    return dbc.Badge(text, color=colour, className="status-cert me-1",
                     title=f"TLS certificate: {days:.1f} days left")


def down_since_line(run: Run | None, now: float):
    """'down since 13:05 (12 min)' for a service whose newest run is failing; else None."""
    start = down_since(run)
    if start is None:
        return None
    return html.Div(f"down since {time.strftime('%H:%M', time.gmtime(start))} UTC "
                    f"({duration_text(now - start)})", className="status-down-since small",
                    title=f"first failing probe of this outage: {stamp(start)} UTC")


def heartbeat(probes: Sequence, n: int = HEARTBEAT):
    """The last ``n`` probes as coloured ticks, oldest left; each tick's title tells its probe."""
    shown = list(probes)[-n:]
    ticks = [html.Span(className="hb hb-none") for _ in range(n - len(shown))]
    ticks += [html.Span(className=f"hb hb-{p.state}", title=tick_title(p)) for p in shown]
    return html.Div(ticks, className="heartbeat", title=None if shown else "no probes yet")


def tick_title(p) -> str:
    """'13:05:09 UTC · up · 1.2 ms · HTTP 200'."""
    parts = [f"{clock(p.at)} UTC", p.state]
    if p.latency_ms is not None:
        parts.append(f"{p.latency_ms:.1f} ms")
    if p.detail:
        parts.append(p.detail)
    return " · ".join(parts)


def response_points(buckets: Sequence[tuple[int, float]], probes: Sequence
                    ) -> tuple[list[tuple[float, float]], str]:
    """The chart's points and what they are: per-minute averages, or in the first minutes
    (fewer than ``MIN_BUCKETS`` buckets) every recent probe that has a latency."""
    if len(buckets) >= MIN_BUCKETS:
        return [(float(t), v) for t, v in buckets], "per-minute average"
    raw = [(p.at, p.latency_ms) for p in probes if p.latency_ms is not None]
    return raw, "each probe"


def nice_top(value: float) -> float:
    """The axis top: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def chart_uri(points: Sequence[tuple[float, float]], width: int = 240,
              height: int = 72, empty: str = "no response times yet") -> str:
    """An inline SVG response-time chart with a ms axis and UTC times under it."""
    left, right, top, bottom = 38, 4, 6, 14
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="9" '
             'fill="#6c757d">']
    y_max = nice_top(max((v for _, v in points), default=0.0))
    for frac in (0.0, 0.5, 1.0) if points else ():
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#e9ecef"/>')
        parts.append(f'<text x="{left - 3}" y="{y + 3:.1f}" text-anchor="end">'
                     f'{_ms(y_max * frac, unit=frac == 1.0)}</text>')
    if not points:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2 + 3}" '
                     f'text-anchor="middle">{escape(empty)}</text>')
    else:
        t0, t1 = points[0][0], points[-1][0]
        span = (t1 - t0) or 1.0

        def xy(t, v):
            x = left + (t - t0) / span * plot_w if t1 > t0 else left + plot_w
            return x, top + plot_h * (1 - v / y_max)
        coords = [xy(t, v) for t, v in points]
        if len(coords) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline fill="none" stroke="#0d6efd" stroke-width="1.5" '
                         f'points="{line}"/>')
        if len(coords) <= 20:
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="#0d6efd"/>'
                      for x, y in coords]
        parts.append(f'<text x="{left}" y="{height - 3}">{_hhmm(t0)}</text>')
        parts.append(f'<text x="{width - right}" y="{height - 3}" text-anchor="end">'
                     f'{_hhmm(t1)} UTC</text>')
    parts.append("</svg>")
    return "data:image/svg+xml;base64," + base64.b64encode("".join(parts).encode()).decode()


def _ms(value: float, unit: bool) -> str:
    text = f"{value:.0f}" if value >= 10 or value == 0 else f"{value:g}"
    return escape(f"{text} ms" if unit else text)


def _hhmm(at: float) -> str:
    return time.strftime("%H:%M", time.gmtime(at))


def chart(points: Sequence[tuple[float, float]], what: str, span: str,
          width: int = 240, height: int = 72, empty: str = "no response times yet"):
    """The chart as an image whose title gives its range, kind and min/max; ``empty`` says
    why there is no line."""
    if points:
        values = [v for _, v in points]
        title = (f"response time, {span} ({what}): min {min(values):.1f} ms, "
                 f"max {max(values):.1f} ms")
    else:
        title = empty
    return html.Img(src=chart_uri(points, width, height, empty), className="response-chart",
                    alt=f"response time over {span}", title=title)


def uptime_rows(ratios: Mapping[str, float | None], covered: Mapping[str, float],
                ratio_text) -> html.Table:
    """Each window's uptime and how much of the window the history covers."""
    rows = []
    for window, seconds in WINDOW_SECONDS.items():
        seen = min(covered.get(window) or 0.0, seconds)
        observed = "just started" if seen < 1 else f"of {duration_text(seen)} observed"
        text = ratio_text(ratios.get(window))
        rows.append(html.Tr([html.Td(window, className="text-muted pe-2"),
                             html.Td(text, className="uptime-value pe-2"),
                             html.Td(observed, className="text-muted")],
                            title=f"{window}: {text} {observed}"))
    return html.Table(html.Tbody(rows), className="uptime-table small mt-2")


def expand_button(name: str, expanded: bool):
    """The card's toggle for its last 24 hours."""
    return dbc.Button("Hide 24 h" if expanded else "Show 24 h", color="link", size="sm",
                      className="status-expand p-0", n_clicks=0,
                      id={"type": ids.STATUS_EXPAND, "name": name})


# --- incidents ---------------------------------------------------------------------------------

def incidents_section(body=None):
    """The Incidents section: its table (from the refresh callback) and the CSV download."""
    return html.Section([
        html.Div([
            html.H5("Incidents", className="mb-0 me-3"),
            html.Span("outages of the probed services, newest first",
                      className="text-muted small"),
            dbc.Button("Download CSV", id=ids.STATUS_INCIDENTS_CSV, color="secondary",
                       outline=True, size="sm", className="ms-auto", n_clicks=0),
            dcc.Download(id=ids.STATUS_INCIDENTS_DOWNLOAD),
        ], className="d-flex align-items-center mb-2"),
        html.Div(body, id=ids.STATUS_INCIDENTS),
    ], className="status-incidents mt-4")


def incidents_table(rows: Sequence[Incident], now: float, shown_max: int):
    """One row per outage; an ongoing one highlighted, an unobserved end said so."""
    if not rows:
        return html.Div("No outages in the kept history (7 days).",
                        className="text-muted small")
    head = html.Thead(html.Tr([html.Th(h) for h in (
        "Service", "Started (UTC)", "Ended (UTC)", "Duration", "Failed probes", "Detail")]))
    body = html.Tbody([_incident_row(r, now) for r in rows])
    note = (html.Div(f"the newest {shown_max} shown; Download CSV has more",
                     className="text-muted small")
            if len(rows) >= shown_max else None)
    return html.Div([dbc.Table([head, body], size="sm", hover=True,
                               className="incidents-table mb-1"), note])


def _incident_row(r: Incident, now: float):
    ended = stamp(r.end) if r.end is not None else end_word(r)
    duration = duration_text(r.duration(now))
    if r.unobserved_end:
        duration = "≥ " + duration
    end_title = (f"no probes after {stamp(r.last)} UTC: stackscope was not watching"
                 if r.unobserved_end else None)
    return html.Tr([
        html.Td(r.name), html.Td(stamp(r.start)),
        html.Td(ended, title=end_title,
                className="fw-semibold text-danger" if r.ongoing else None),
        html.Td(duration), html.Td(r.probes), html.Td(r.detail, className="text-muted"),
    ], className="incident-ongoing" if r.ongoing else None)

"""Status tab, Prometheus section: scrape-target health and the alert list.

Targets come from Prometheus' ``/api/v1/targets``; alerts from its ``/api/v1/alerts`` and,
when configured, Alertmanager's ``/api/v2/alerts``, merged into one row per alert
(``query.alerts.merge``). Each source keeps its own stale badge or error, so a down
Alertmanager does not hide Prometheus' answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC

import dash_bootstrap_components as dbc
from dash import html

from layouts import alert_list, ids
from layouts.common import result_notice
from query import alerts
from query.timerange import human_duration

MAX_ROWS = 200
STATE_COLOURS = {"firing": "danger", "pending": "warning", "up": "success", "down": "danger"}


def container():
    """The section's frame, drawn with the tab: heading, alert filters, the refreshed parts
    (``ids.STATUS_PROM_SECTION``), the silence dialog and the alert history.

    Dash mounts children it is sent anew, so each part is its own output and is sent only
    when it changed: a source's "next try in 3 s" does not redraw the alert list under the
    pointer."""
    alerts = _card("Alerts", [html.Span(id=ids.STATUS_PROM_ALERT_SUMMARY,
                                        className="d-flex flex-wrap gap-2")],
                   [html.Div(id=ids.STATUS_PROM_ALERT_NOTICES)],
                   html.Div(id=ids.STATUS_PROM_ALERTS))
    parts = dbc.Row([dbc.Col(id=ids.STATUS_PROM_TARGETS, xl=6, className="mb-3"),
                     dbc.Col(alerts, xl=6, className="mb-3")])
    return html.Div([html.H5("Prometheus", className="mb-2"), *alert_list.frame_parts(),
                     html.Div(parts, id=ids.STATUS_PROM_SECTION, className="prom-status"),
                     alert_list.history_card()], className="mt-4")


def section(targets, alert_sources: Sequence[tuple], now: float | None = None, *,
            filters: dict | None = None, silences=None, can_silence: bool = False) -> tuple:
    """The refreshed parts: the targets card, then ``alerts_parts``; each source a
    ``Result``. ``filters`` are ``query.alerts.select``'s keywords; ``silences`` a ``Result``
    of active silences (None: no Alertmanager); ``can_silence`` offers the Silence button.
    """
    now = time.time() if now is None else now
    return (targets_card(targets, now),
            *alerts_parts(alert_sources, now, filters=filters, silences=silences,
                          can_silence=can_silence))


def not_configured() -> tuple:
    """The parts when no Prometheus URL is set."""
    return (dbc.Alert("No Prometheus URL configured ([prometheus] url).", color="secondary",
                      className="py-2"), [], [], _NO_LIST)


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


def alerts_parts(sources: Sequence[tuple], now: float, *, filters: dict | None = None,
                 silences=None, can_silence: bool = False) -> tuple:
    """The alerts card's parts: (header counts, the sources' notices, the body). The body is
    every source's alerts as one list (each alert once, its sources as tags), grouped by
    alertname, filtered; then the active silences with an Expire button."""
    notices = [n for _, r in sources if (n := result_notice(r)) is not None]
    frames = {name.lower(): r.value for name, r in sources}
    frame = alerts.merge(frames.get("prometheus"), frames.get("alertmanager"))
    silence_parts = _silences(silences, now, can_silence)
    if frame is None:
        return [], notices, html.Div([_NO_LIST, *silence_parts])
    shown = alerts.select(frame, **(filters or {}))
    body = html.Div([alert_list.alert_groups(shown, can_silence=can_silence, total=len(frame)),
                     *silence_parts])
    return alert_list.summary_badges(alerts.counts(frame)), notices, body


_NO_LIST = html.Div("no alert list", className="text-muted small")


def _silences(result, now: float, can_silence: bool) -> list:
    if result is None:
        return []
    notice = result_notice(result)
    frame = result.value
    listed = None if frame is None else alert_list.silences_list(
        alerts.active_silences(frame), now, can_silence)
    return [part for part in (notice, listed) if part is not None]

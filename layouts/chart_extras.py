"""What a Metrics chart can show besides its series: annotations, a time-shifted copy, the
expected band with its anomalies; and the controls and Inspect dialog for them.

Functions here take a finished figure dict (``layouts.metrics.figure``) and return it with
more drawn on it; the data comes from ``query.annotations`` and ``query.compare``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from layouts import ids
from query import chart
from query.annotations import Mark
from query.compare import MODES, Anomaly, Band
from query.timezone import UTC_NAME, wall_text

#: the annotation sources a viewer can switch on and off (``[[annotations]]`` add theirs)
BUILT_IN_SOURCES = {"deploys": "Deploys", "alerts": "Alerts firing"}
SEVERITY_COLOURS = {"critical": "220,53,69", "warning": "253,126,20", "info": "13,110,253"}
DEPLOY_COLOUR = "#6f42c1"
#: series an expected band is drawn for (each costs three traces); the anomaly list covers all
BAND_SERIES = 10
#: anomalies listed under a chart
LISTED = 10
#: the chart's top margin without annotations (layouts.metrics._base_layout), and with them
TOP, TOP_MARKED = 8, 18
#: rows of data shown in Inspect (the CSV has them all)
INSPECT_ROWS = 200


def controls(extra_sources: Sequence[str] = ()):
    """The chart options every panel follows: comparison mode and annotation sources."""
    sources = {**BUILT_IN_SOURCES, **{name: name for name in extra_sources}}
    return html.Div([
        html.Label("Compare", htmlFor=ids.METRICS_COMPARE, className="small text-muted mb-0"),
        dbc.Select(id=ids.METRICS_COMPARE, size="sm", value="off",
                   options=[{"label": label, "value": v} for v, label in MODES.items()],
                   className="metrics-compare"),
        html.Span("Annotations", className="small text-muted ms-3"),
        dbc.Checklist(id=ids.METRICS_ANNOTATE, inline=True, switch=True,
                      options=[{"label": label, "value": v} for v, label in sources.items()],
                      value=list(sources), className="small metrics-annotate"),
        html.Span("Legend", className="small text-muted ms-3"),
        dbc.RadioItems(id=ids.METRICS_LEGEND, inline=True, value="list",
                       options=[{"label": "list", "value": "list"},
                                {"label": "table", "value": "table"}],
                       className="small metrics-legend-mode"),
    ], className="d-flex flex-wrap align-items-center gap-2 mb-2 metrics-options")


# --- drawing on a figure ----------------------------------------------------------------


def with_marks(fig: dict, marks: Sequence[Mark], zone: str = UTC_NAME) -> dict:
    """Deploy lines and alert regions drawn behind the series, each named at the top; their
    hover texts give times on ``zone``'s clock (the shapes are placed in UTC milliseconds,
    as every time of a figure before ``layouts.time_axis.localized``)."""
    shapes, notes = list(fig["layout"].get("shapes", [])), list(
        fig["layout"].get("annotations", []))
    marks = sorted(marks, key=lambda m: m.start)
    levels = _label_levels([m.start for m in marks])
    for m, level in zip(marks, levels, strict=True):
        x0 = m.start * 1000
        if m.is_region:
            rgb = SEVERITY_COLOURS.get(m.severity, "108,117,125")
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": x0,
                           "x1": m.end * 1000, "y0": 0, "y1": 1, "layer": "below",
                           "fillcolor": f"rgba({rgb},0.12)", "line": {"width": 0},
                           "name": f"mark-{m.source}"})
        else:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x0, "x1": x0,
                           "y0": 0, "y1": 1, "layer": "below", "name": f"mark-{m.source}",
                           "line": {"color": DEPLOY_COLOUR, "width": 1, "dash": "dot"}})
        notes.append({"x": x0, "y": 1, "xref": "x", "yref": "paper", "yanchor": "bottom",
                      "xanchor": "left", "showarrow": False, "text": chart.plain_text(m.text),
                      "yshift": -11 * level,
                      "font": {"size": 9, "color": DEPLOY_COLOUR if not m.is_region
                               else "#6c757d"}, "hovertext": _mark_hover(m, zone)})
    fig["layout"]["shapes"], fig["layout"]["annotations"] = shapes, notes
    fig["layout"]["margin"] = {**fig["layout"].get("margin", {}), "t": TOP_MARKED}
    return fig


def _label_levels(starts, near: float = 0.06) -> list[int]:
    """A line of text per label, stepped down where labels would overlap: a label within
    ``near`` of the marks' span after the one before it goes one line lower (at most 3)."""
    if not starts:
        return []
    span = max(max(starts) - min(starts), 1.0)
    levels, last = [], None
    for x in starts:
        level = 0 if last is None or x - last[0] > near * span else (last[1] + 1) % 4
        levels.append(level)
        last = (x, level)
    return levels


def _mark_hover(m: Mark, zone: str = UTC_NAME) -> str:
    when = clock(m.start, zone)
    if m.is_region:
        return chart.plain_text(f"{m.text}: {when} → {clock(m.end, zone)} {zone}")
    return chart.plain_text(f"{m.text} at {when} {zone}")


def with_shift(fig: dict, frame, window, seconds: float, label: str, legend) -> dict:
    """The same series ``seconds`` earlier (already moved onto this range), dotted."""
    drawn, _ = chart.lines(frame, window.points, window.step)
    for line in drawn:
        name = chart.plain_text(f"{legend(line)} ({label})")
        fig["data"].append({"type": "scatter", "mode": "lines", "name": name,
                            "x": line.x.tolist(), "y": line.y.tolist(), "opacity": 0.7,
                            "line": {"width": 1, "dash": "dot"}, "connectgaps": False,
                            "meta": f"shift:{line.series}",
                            "hovertemplate": "%{y}<extra>%{fullData.name}</extra>"})
    return fig


def with_band(fig: dict, bands: Sequence[Band], found: Sequence[Anomaly], legend) -> dict:
    """Each series' expected band (shaded) and its anomalous points (red markers)."""
    for band in [b for b in bands if np.isfinite(b.median).any()][:BAND_SERIES]:
        x = (band.t * 1000).tolist()
        name = chart.plain_text(legend(band))
        fig["data"].append({"type": "scatter", "mode": "lines", "x": x, "y": _list(band.lo),
                            "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False,
                            "meta": f"band-lo:{band.series}"})
        fig["data"].append({"type": "scatter", "mode": "lines", "x": x, "y": _list(band.hi),
                            "fill": "tonexty", "fillcolor": "rgba(108,117,125,0.15)",
                            "line": {"width": 0}, "name": f"{name} expected",
                            "meta": f"band-hi:{band.series}", "hoverinfo": "skip"})
    xs, ys, text = [], [], []
    for a in found:
        band = next((b for b in bands if b.series == a.series), None)
        if band is None:
            continue
        inside = (band.t >= a.start) & (band.t < a.end)
        xs += (band.t[inside] * 1000).tolist()
        ys += _list(band.actual[inside])
        text += [chart.plain_text(f"{a.series}: expected {a.expected:.4g}")] * int(inside.sum())
    if xs:
        fig["data"].append({"type": "scatter", "mode": "markers", "x": xs, "y": ys,
                            "name": "anomaly", "text": text, "meta": "anomalies",
                            "marker": {"color": "#dc3545", "size": 6, "symbol": "circle-open"},
                            "hovertemplate": "%{y} (%{text})<extra>anomaly</extra>"})
    return fig


def _list(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values]


# --- under a chart: the anomaly list --------------------------------------------------------


def anomaly_list(slug: str, found: Sequence[Anomaly], total: int, *, pad: float,
                 zone: str = UTC_NAME):
    """The anomalies in range, each a link zooming to it (``pad`` seconds either side), their
    times on ``zone``'s clock."""
    if not found:
        return html.Div("No anomalies in this range: every point is inside its expected band.",
                        className="small text-muted px-2 pb-2 metrics-anomalies")
    items = [html.Li(html.A(
        f"{clock(a.start, zone)} → {clock(a.end, zone)[11:]} {zone} · {a.series} · "
        f"{a.peak:.4g} {a.direction} the expected {a.expected:.4g}",
        id={"type": ids.METRICS_ANOMALY, "panel": slug, "from": _iso(a.start - pad),
            "to": _iso(a.end + pad)},
        href="#", n_clicks=0, className="metrics-anomaly-link")) for a in found[:LISTED]]
    more = total - min(len(found), LISTED)
    return html.Div([
        html.Div(f"{total} anomal{'y' if total == 1 else 'ies'} in this range"
                 + (f" (the {LISTED} largest listed)" if more > 0 else "") + ":",
                 className="small fw-semibold"),
        html.Ul(items, className="small mb-1 ps-3"),
    ], className="px-2 pb-2 metrics-anomalies")


def clock(epoch: float, zone: str = UTC_NAME) -> str:
    """"YYYY-MM-DD HH:MM" on ``zone``'s 24-hour clock."""
    return wall_text(epoch, zone, "%Y-%m-%d %H:%M")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(round(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Inspect ---------------------------------------------------------------------------------


def inspect_modal():
    """The one Inspect dialog; a panel's Inspect button fills it."""
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle(id=ids.METRICS_INSPECT_TITLE)),
        dbc.ModalBody(id=ids.METRICS_INSPECT_BODY),
    ], id=ids.METRICS_INSPECT_MODAL, size="xl", scrollable=True, is_open=False)


def inspect_body(facts: Mapping[str, str], frame, error: str | None = None):
    """The query as sent and what came back: a table of facts, then the data."""
    rows = [html.Tr([html.Th(k, className="text-nowrap"), html.Td(
        html.Code(v) if k in ("Query", "Request") else v)]) for k, v in facts.items()]
    parts = [dbc.Table(html.Tbody(rows), size="sm", bordered=False,
                       className="metrics-inspect-facts")]
    if error:
        parts.append(dbc.Alert(error, color="danger", className="py-1 small"))
    if frame is not None and not frame.empty:
        head = frame.head(INSPECT_ROWS)
        cols = ["timestamp", "series", "value"]
        parts.append(html.Div(f"Data: {len(frame):,} rows"
                              + (f", the first {INSPECT_ROWS} shown (Download CSV has all)"
                                 if len(frame) > INSPECT_ROWS else ""),
                              className="small fw-semibold"))
        parts.append(dbc.Table([
            html.Thead(html.Tr([html.Th(c) for c in cols])),
            html.Tbody([html.Tr([html.Td(_cell(r[c])) for c in cols])
                        for r in head[cols].to_dict("records")]),
        ], size="sm", striped=True, className="metrics-inspect-data font-monospace small"))
    return parts


def _cell(value) -> str:
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{value:.6g}" if isinstance(
        value, float) else str(value)

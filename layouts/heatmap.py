"""Heatmap panels and exemplar points: plotly figures from ``query.heatmap`` grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from layouts import metrics as view
from query import heatmap as hm
from query.timerange import Window

#: ticks on the bucket axis at most (every k-th bucket is labelled past it)
MAX_TICKS = 12
QUANTILE_COLOURS = {"p50": "#2ca02c", "p95": "#ff7f0e", "p99": "#d62728"}
EXEMPLAR_MARKER = {"symbol": "diamond", "size": 7, "color": "#6f42c1",
                   "line": {"width": 1, "color": "white"}}
#: cells up to which each one's hover names its bucket's bounds
HOVER_TEXT_CELLS = 20_000
#: the trace name an exemplar click is recognised by
EXEMPLAR_NAME = "exemplars"


def heatmap_figure(g: hm.Grid, window: Window, *, unit: str = "",
                   quantiles: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                   points: hm.Exemplars | None = None, revision: str = "") -> dict:
    """Buckets as rows over time, with quantile lines and exemplars drawn on the rows."""
    if g.empty:
        return view.empty_figure("no histogram data for this range")
    suffix = f" {unit}" if unit else ""
    labels = [f"{_side(r, True)}{hm.bound_text(lo)}, {hm.bound_text(hi)}{_side(r, False)}"
              for lo, hi, r in zip(g.lower, g.upper, g.boundary, strict=True)]
    cells = {"type": "heatmap", "x": g.x_ms.tolist(), "y": list(range(len(labels))),
             "z": np.round(g.z, 6).tolist(), "colorscale": "Blues", "zmin": 0,
             "name": "buckets",
             "colorbar": {"thickness": 10, "title": {"text": "count", "side": "right"}},
             "hovertemplate": "count %{z:.4~g}<extra></extra>"}
    if g.z.size <= HOVER_TEXT_CELLS:  # the bucket's bounds in the hover cost a string a cell
        cells["customdata"] = [[text] * len(g.x_ms) for text in labels]
        cells["hovertemplate"] = f"%{{customdata}}{suffix}: %{{z:.4~g}}<extra></extra>"
    traces = [cells]
    for name, (value, position) in (quantiles or {}).items():
        traces.append({"type": "scatter", "mode": "lines", "name": name,
                       "x": g.x_ms.tolist(), "y": _plain(position),
                       "customdata": _plain(value), "line": {
                           "width": 1.5, "color": QUANTILE_COLOURS.get(name, "#333")},
                       "hovertemplate": f"{name}: %{{customdata:.4~g}}{suffix}<extra></extra>"})
    if points is not None and len(points.x_ms):
        traces.append(exemplar_trace(points, hm.row_position(g, points.values), unit))
    step = max(1, -(-len(labels) // MAX_TICKS))
    layout = {**view._base_layout(), "uirevision": revision, "hovermode": "closest",
              "xaxis": view._time_axis(window),
              "yaxis": {"fixedrange": True, "tickmode": "array", "gridcolor": "#eef0f3",
                        "tickvals": list(range(0, len(labels), step)),
                        "ticktext": [hm.bound_text(u) for u in g.upper[::step]],
                        "title": {"text": f"bucket upper bound{suffix}"},
                        "range": [-0.5, len(labels) - 0.5]}}
    return {"data": traces, "layout": layout}


def exemplar_trace(points: hm.Exemplars, y: Sequence[float] | np.ndarray, unit: str = ""
                   ) -> dict:
    """Exemplars as clickable points; each carries its ids and time for the Logs link."""
    suffix = f" {unit}" if unit else ""
    custom = [[ids.get("request_id", ""), ids.get("trace_id", ""), x / 1000, value]
              for ids, x, value in zip(points.ids, points.x_ms.tolist(),
                                       points.values.tolist(), strict=True)]
    return {"type": "scatter", "mode": "markers", "name": EXEMPLAR_NAME,
            "x": points.x_ms.tolist(), "y": _plain(np.asarray(y, dtype=np.float64)),
            "customdata": custom, "marker": EXEMPLAR_MARKER,
            "hovertemplate": (f"%{{customdata[3]:.4~g}}{suffix}<br>request %{{customdata[0]}}"
                              "<br>click: its logs<extra>exemplar</extra>")}


def with_exemplars(fig: dict, points: hm.Exemplars, unit: str = "") -> dict:
    """A line chart with its exemplars added as points at their observed values."""
    if not len(points.x_ms) or not fig.get("data"):
        return fig
    # "closest": a click then lands on the exemplar under the pointer, not the lines' x.
    return {**fig, "data": [*fig["data"], exemplar_trace(points, points.values, unit)],
            "layout": {**fig.get("layout", {}), "hovermode": "closest"}}


def _plain(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values]


def _side(rule: int, left: bool) -> str:
    closed = (rule in (1, 3)) if left else (rule in (0, 3))
    return ("[" if closed else "(") if left else ("]" if closed else ")")


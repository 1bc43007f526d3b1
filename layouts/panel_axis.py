"""A finished Metrics figure's y axis set as its panel asks (``query.y_axis.YAxis``): log
scale, fixed limits and threshold lines.

Called inside ``layouts.metrics._figure``, before a live chart's signature is taken, so a
changed axis always redraws the whole figure (a patch never keeps an old layout).
"""

from __future__ import annotations

import math

from query import chart
from query.y_axis import YAxis


def apply(fig: dict, y: YAxis | None) -> dict:
    """``fig`` with its y axis scaled and limited, and a dashed line per threshold."""
    if y is None or y.plain or not fig.get("data"):
        return fig
    layout = fig["layout"]
    axis = dict(layout.get("yaxis", {}))
    log = y.scale == "log"
    if log:
        axis["type"] = "log"
        axis.pop("rangemode", None)  # "tozero" has no meaning on a log axis
    if y.lo is not None or y.hi is not None:
        axis.update(_limits(y.lo, y.hi, log))
    layout["yaxis"] = axis
    lines = [t for t in y.thresholds if not log or t.value > 0]
    if lines:
        layout["shapes"] = [*layout.get("shapes", []), *(_line(t) for t in lines)]
    return fig


def _limits(lo: float | None, hi: float | None, log: bool) -> dict:
    # A log axis's range is in decades; config.py makes limits positive on a log scale.
    def at(v):
        return None if v is None else (math.log10(v) if log else v)
    if lo is not None and hi is not None:
        return {"autorange": False, "range": [at(lo), at(hi)]}
    # plotly's partial autorange: the given end fixed, the other one fitted to the data
    return {"autorange": "max" if lo is not None else "min", "range": [at(lo), at(hi)]}


def _line(t) -> dict:
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": t.value,
            "y1": t.value, "layer": "above", "name": chart.plain_text(f"threshold {t.value:g}"),
            "line": {"color": t.color, "width": 1, "dash": "dash"}}

"""A Metrics figure on another zone's clock: every time it draws moved onto that wall clock.

plotly.js draws epoch milliseconds on a date axis as UTC's date and time, and knows no other
zone. ``localized`` takes a finished figure dict (series, comparison traces, exemplars, a
heatmap, annotation shapes and labels, the axis' range hints) and moves each of its times by
the zone's offset at that instant (``query.timezone.wall_ms``), then names the zone on the
axis. Live patches move their appended points the same way (``layouts.metrics._patch``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from query import chart
from query.timezone import UTC_NAME, wall_ms

#: the axis title's look (``layouts.metrics._time_axis``)
TITLE_FONT = {"size": 10, "color": "#6c757d"}


def localized(fig, zone: str):
    """``fig`` drawn on ``zone``'s clock, its time axis titled with the zone's name.

    A figure in UTC, and anything not a figure dict (a ``Patch``, ``no_update``), is
    returned as it is: call this once, on the finished figure.
    """
    if zone == UTC_NAME or not isinstance(fig, Mapping):
        return fig
    layout = dict(fig.get("layout") or {})
    for key in ("shapes", "annotations"):
        if isinstance(layout.get(key), list):
            layout[key] = [_item(item, zone) for item in layout[key]]
    if isinstance(layout.get("xaxis"), Mapping):
        layout["xaxis"] = _axis(layout["xaxis"], zone)
    return {**fig, "data": [_trace(t, zone) for t in fig.get("data") or []], "layout": layout}


def moved(values, zone: str):
    """Epoch milliseconds (a list, with None for gaps, or plotly's typed array) on ``zone``'s
    clock, in the same form."""
    if zone == UTC_NAME:
        return values
    if isinstance(values, Mapping) and values.get("dtype") == "f8" and "bdata" in values:
        return chart.typed(wall_ms(chart.untyped(values), zone))
    if isinstance(values, list | tuple | np.ndarray) and len(values) and _numbers(values):
        array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return [None if np.isnan(v) else v for v in wall_ms(array, zone).tolist()]
    return values


def _numbers(values) -> bool:
    return all(v is None or (isinstance(v, int | float | np.number) and not isinstance(v, bool))
               for v in values)


def _trace(trace, zone: str):
    if not isinstance(trace, Mapping) or trace.get("xaxis", "x") != "x" or "x" not in trace:
        return trace
    return {**trace, "x": moved(trace["x"], zone)}


def _item(item, zone: str):
    """A shape or annotation placed in data time (``xref: "x"``), moved."""
    if not isinstance(item, Mapping) or item.get("xref") != "x":
        return item
    keys = [k for k in ("x", "x0", "x1") if k in item]
    shifted = moved([item[k] for k in keys], zone)
    return {**item, **dict(zip(keys, shifted, strict=True))}


def _axis(axis: Mapping, zone: str) -> dict:
    axis = dict(axis)
    if axis.get("type") != "date":
        return axis
    options = axis.get("autorangeoptions")
    if isinstance(options, Mapping) and isinstance(options.get("include"), list):
        axis["autorangeoptions"] = {**options, "include": moved(options["include"], zone)}
    if isinstance(axis.get("range"), list):
        axis["range"] = moved(axis["range"], zone)
    title = axis.get("title") if isinstance(axis.get("title"), Mapping) else {}
    axis["title"] = {"standoff": 4, "font": TITLE_FONT, **title, "text": zone}
    return axis

"""A Metrics figure on a zone's clock, in whatever zone the browser's own clock is.

plotly.js shows epoch milliseconds on a date axis on the browser's clock and knows no other
zone. ``localized`` takes a finished figure dict (series, comparison traces, exemplars, a
heatmap, annotation shapes and labels, the axis' range hints), all in epoch milliseconds,
and sends each time as the instant the browser's clock reads as the chosen zone's does
(``query.timezone.shown_ms``), then names the zone on the axis. Live patches move their
appended points the same way (``layouts.metrics._patch``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from query import chart
from query.timezone import UTC_NAME, shown_ms

#: the axis title's look (``layouts.metrics._time_axis``)
TITLE_FONT = {"size": 10, "color": "#6c757d"}


def localized(fig, zone: str, browser: str = UTC_NAME):
    """``fig`` as a browser on ``browser``'s clock shows it on ``zone``'s, its time axis
    titled with the zone's name.

    A figure in UTC for a browser in UTC, and anything not a figure dict (a ``Patch``,
    ``no_update``), is returned as it is: call this once, on the finished figure.
    """
    if (zone, browser) == (UTC_NAME, UTC_NAME) or not isinstance(fig, Mapping):
        return fig
    layout = dict(fig.get("layout") or {})
    for key in ("shapes", "annotations"):
        if isinstance(layout.get(key), list):
            layout[key] = [_item(item, zone, browser) for item in layout[key]]
    if isinstance(layout.get("xaxis"), Mapping):
        layout["xaxis"] = _axis(layout["xaxis"], zone, browser)
    return {**fig, "data": [_trace(t, zone, browser) for t in fig.get("data") or []],
            "layout": layout}


def moved(values, zone: str, browser: str = UTC_NAME):
    """Epoch milliseconds (a list, with None for gaps, or plotly's typed array) as a browser
    on ``browser``'s clock shows them on ``zone``'s, in the same form."""
    if zone == browser:
        return values
    if isinstance(values, Mapping) and values.get("dtype") == "f8" and "bdata" in values:
        return chart.typed(shown_ms(chart.untyped(values), zone, browser))
    if isinstance(values, list | tuple | np.ndarray) and len(values) and _numbers(values):
        array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return [None if np.isnan(v) else v for v in shown_ms(array, zone, browser).tolist()]
    return values


def _numbers(values) -> bool:
    return all(v is None or (isinstance(v, int | float | np.number) and not isinstance(v, bool))
               for v in values)


def _trace(trace, zone: str, browser: str):
    if not isinstance(trace, Mapping) or trace.get("xaxis", "x") != "x" or "x" not in trace:
        return trace
    return {**trace, "x": moved(trace["x"], zone, browser)}


def _item(item, zone: str, browser: str):
    """A shape or annotation placed in data time (``xref: "x"``), moved."""
    if not isinstance(item, Mapping) or item.get("xref") != "x":
        return item
    keys = [k for k in ("x", "x0", "x1") if k in item]
    shifted = moved([item[k] for k in keys], zone, browser)
    return {**item, **dict(zip(keys, shifted, strict=True))}


def _axis(axis: Mapping, zone: str, browser: str) -> dict:
    axis = dict(axis)
    if axis.get("type") != "date":
        return axis
    options = axis.get("autorangeoptions")
    if isinstance(options, Mapping) and isinstance(options.get("include"), list):
        axis["autorangeoptions"] = {**options,
                                    "include": moved(options["include"], zone, browser)}
    if isinstance(axis.get("range"), list):
        axis["range"] = moved(axis["range"], zone, browser)
    title = axis.get("title") if isinstance(axis.get("title"), Mapping) else {}
    axis["title"] = {"standoff": 4, "font": TITLE_FONT, **title, "text": zone}
    return axis

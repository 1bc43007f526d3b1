"""A Metrics figure on a zone's clock, in whatever zone the browser's own clock is.

plotly.js shows epoch milliseconds on a date axis on the browser's clock and knows no other
zone. ``localized`` takes a finished figure dict (series, comparison traces, exemplars, a
heatmap, annotation shapes and labels, the axis' range hints), all in epoch milliseconds,
and sends each time as the instant the browser's clock reads as the chosen zone's does
(``query.timezone.shown_ms``), then names the zone on the axis. Live patches move their
appended points the same way (``layouts.metrics._patch``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from query import chart
from query.timezone import UTC_NAME, shown_ms

#: the axis title's look (``layouts.metrics._time_axis``)
TITLE_FONT = {"size": 10, "color": "#6c757d"}


def localized(fig, zone: str, browser: str = UTC_NAME):
    """``fig`` as a browser on ``browser``'s clock shows it on ``zone``'s, its time axis
    titled with the zone's name.

    A figure in UTC for a browser in UTC, and anything not a figure dict (a ``Patch``,
    ``no_update``), is returned as it is: call this once, on the finished figure. All the
    figure's times are converted in one call (zone arithmetic costs about as much per call
    as per thousand points: ``bench/time_zone.py``).
    """
    if (zone, browser) == (UTC_NAME, UTC_NAME) or not isinstance(fig, Mapping):
        return fig
    if zone == browser:  # the browser's clock is the zone's: only the axis' title changes
        return _rebuilt(fig, zone, lambda values: values)
    found: list = []
    _rebuilt(fig, zone, lambda values: found.append(values) or values)
    arrays = [_array(values) for values in found]
    sizes = [len(a) for a in arrays if a is not None]
    flat = shown_ms(np.concatenate([a for a in arrays if a is not None] or [np.empty(0)]),
                    zone, browser)
    parts = iter(np.split(flat, np.cumsum(sizes)[:-1]))
    done = iter([values if array is None else _like(values, next(parts))
                 for values, array in zip(found, arrays, strict=True)])
    return _rebuilt(fig, zone, lambda _values: next(done))


def moved(values, zone: str, browser: str = UTC_NAME):
    """Epoch milliseconds (a list, with None for gaps, or plotly's typed array) as a browser
    on ``browser``'s clock shows them on ``zone``'s, in the same form."""
    array = None if zone == browser else _array(values)
    return values if array is None else _like(values, shown_ms(array, zone, browser))


def _array(values) -> np.ndarray | None:
    """Times as float milliseconds (None for gaps → NaN); None when ``values`` are not times
    in milliseconds (date strings, or nothing)."""
    if isinstance(values, Mapping) and values.get("dtype") == "f8" and "bdata" in values:
        return chart.untyped(values)
    if isinstance(values, list | tuple | np.ndarray) and len(values) and _numbers(values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return None


def _like(values, array: np.ndarray):
    """``array`` in the form ``values`` had: plotly's typed array, or a list with None."""
    if isinstance(values, Mapping):
        return chart.typed(array)
    return [None if np.isnan(v) else v for v in array.tolist()]


def _numbers(values) -> bool:
    return all(v is None or (isinstance(v, int | float | np.number) and not isinstance(v, bool))
               for v in values)


def _rebuilt(fig: Mapping, zone: str, move: Callable) -> dict:
    """``fig`` with ``move`` applied to each of its lists of times, in a fixed order."""
    layout = dict(fig.get("layout") or {})
    data = [_trace(t, move) for t in fig.get("data") or []]
    for key in ("shapes", "annotations"):
        if isinstance(layout.get(key), list):
            layout[key] = [_item(item, move) for item in layout[key]]
    if isinstance(layout.get("xaxis"), Mapping):
        layout["xaxis"] = _axis(layout["xaxis"], zone, move)
    return {**fig, "data": data, "layout": layout}


def _trace(trace, move: Callable):
    if not isinstance(trace, Mapping) or trace.get("xaxis", "x") != "x" or "x" not in trace:
        return trace
    return {**trace, "x": move(trace["x"])}


def _item(item, move: Callable):
    """A shape or annotation placed in data time (``xref: "x"``), moved."""
    if not isinstance(item, Mapping) or item.get("xref") != "x":
        return item
    keys = [k for k in ("x", "x0", "x1") if k in item]
    return {**item, **dict(zip(keys, move([item[k] for k in keys]), strict=True))}


def _axis(axis: Mapping, zone: str, move: Callable) -> dict:
    axis = dict(axis)
    if axis.get("type") != "date":
        return axis
    options = axis.get("autorangeoptions")
    if isinstance(options, Mapping) and isinstance(options.get("include"), list):
        axis["autorangeoptions"] = {**options, "include": move(options["include"])}
    if isinstance(axis.get("range"), list):
        axis["range"] = move(axis["range"])
    title = axis.get("title") if isinstance(axis.get("title"), Mapping) else {}
    axis["title"] = {"standoff": 4, "font": TITLE_FONT, **title, "text": zone}
    return axis

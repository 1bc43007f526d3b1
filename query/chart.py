"""What a metric frame becomes on a chart: one line per series, bounded, with gaps kept.

Pure numpy over the long frames ``datasources.prometheus`` returns (timestamp, value, series,
labels); ``layouts.metrics`` turns the result into plotly traces.
"""

from __future__ import annotations

import base64
import html
from typing import NamedTuple

import numpy as np
import pandas as pd

#: points one panel may send the browser: x and y as base64 float64 are ~21 bytes a point,
#: so ~1.3 MB, under the 1.5 MB a panel may weigh with its layout and legend
POINT_BUDGET = 60_000
MAX_SERIES = 100


class Line(NamedTuple):
    """One series ready to draw: epoch ms with NaN-broken gaps, values, its labels."""

    series: str
    labels: dict[str, str]
    x: np.ndarray
    y: np.ndarray


def lines(frame: pd.DataFrame, points: int, step_s: float) -> tuple[list[Line], list[str]]:
    """The frame's series as lines (at most the budget allows), and notes on what is left out."""
    keep, notes = bounded(series_groups(frame), points)
    out, infinite = [], 0
    for name, (t_ms, y, labels) in keep:
        infinite += int(np.count_nonzero(np.isinf(y)))
        x, y_plot = with_gaps(t_ms, np.where(np.isfinite(y), y, np.nan), step_s * 1000)
        out.append(Line(name, labels, x, y_plot))
    if infinite:
        notes.append(f"{infinite} ±Inf samples are not drawn")
    return out, notes


def series_groups(frame: pd.DataFrame) -> list[tuple[str, tuple[np.ndarray, np.ndarray, dict]]]:
    """Per series, in frame order: (name, (epoch ms sorted, values, labels))."""
    codes, names = _series_codes(frame["series"])
    t_ms = frame["timestamp"].dt.as_unit("ms").array.asi8.astype(np.float64)
    values = frame["value"].to_numpy(dtype=np.float64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    present = bounds[1:] > bounds[:-1]
    firsts = order[bounds[:-1][present]]
    # One lookup per label column for every series at once, not one per series and column.
    label_cols = [c for c in frame.columns if c not in ("timestamp", "value", "series")]
    first_labels = {c: frame[c].to_numpy(dtype=object)[firsts] for c in label_cols}
    groups = []
    for j, i in enumerate(np.flatnonzero(present)):
        rows = order[bounds[i]:bounds[i + 1]]
        ts = t_ms[rows]
        by_time = np.argsort(ts, kind="stable")
        labels = {c: str(v[j]) for c, v in first_labels.items() if isinstance(v[j], str)}
        groups.append((str(names[i]), (ts[by_time], values[rows][by_time], labels)))
    return groups


def _series_codes(series: pd.Series) -> tuple[np.ndarray, list]:
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    return cat.cat.codes.to_numpy(), list(cat.cat.categories)


def bounded(groups, points: int):
    """At most MAX_SERIES series, and at most POINT_BUDGET points: the highest peaks stay."""
    limit = max(1, min(MAX_SERIES, POINT_BUDGET // max(points, 1)))
    if len(groups) <= limit:
        return groups, []
    peaks = [np.nanmax(np.abs(np.where(np.isfinite(g[1][1]), g[1][1], np.nan)), initial=-1)
             for g in groups]
    chosen = sorted(np.argsort(peaks, kind="stable")[::-1][:limit])
    note = (f"showing {limit} of {len(groups)} series (the highest peaks); "
            "Download CSV has them all")
    return [groups[i] for i in chosen], [note]


def with_gaps(x: np.ndarray, y: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` with a NaN point inserted wherever samples are more than 1.5 steps apart."""
    if len(x) < 2:
        return x, y
    jumps = np.flatnonzero(np.diff(x) > 1.5 * step) + 1
    if not len(jumps):
        return x, y
    # The NaN sits one step after the last sample before the hole, so plotly breaks the line.
    return np.insert(x, jumps, x[jumps - 1] + step), np.insert(y, jumps, np.nan)


def finite_count(y: np.ndarray) -> int:
    """How many points of a line can be drawn."""
    return int(np.count_nonzero(np.isfinite(y)))


def typed(values: np.ndarray) -> dict:
    """A float64 array as plotly.js's base64 typed array: a third of JSON's size, NaN kept."""
    data = np.ascontiguousarray(values, dtype="<f8")
    return {"dtype": "f8", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def plain_text(text) -> str:
    """``text`` as plotly shows it literally: its HTML subset (``<a href>``, ``<b>``) escaped.

    plotly.js renders a subset of HTML in trace names, legends, hover labels and annotations:
    a label value ``<a href="…">`` would be a live link in the legend. As entities it is text.
    """
    return html.escape(str(text), quote=False)

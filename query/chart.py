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
    runs = series_runs(frame)
    keep, notes = bounded_runs(runs, points)
    out, infinite = [], 0
    for i in keep:
        t_ms, y = runs.run(i)
        infinite += int(np.count_nonzero(np.isinf(y)))
        x, y_plot = with_gaps(t_ms, np.where(np.isfinite(y), y, np.nan), step_s * 1000)
        out.append(Line(runs.names[i], runs.labels(i), x, y_plot))
    if infinite:
        notes.append(f"{infinite} ±Inf samples are not drawn")
    return out, notes


class Runs(NamedTuple):
    """A long frame's samples as arrays: series after series, each in time order.

    ``t_ms`` and ``values`` hold every sample; series ``i`` is ``bounds[i]:bounds[i + 1]``.
    Only series with samples are listed; ``label_codes``/``label_values`` give each one's
    labels without touching the frame again.
    """

    names: list[str]
    bounds: np.ndarray
    t_ms: np.ndarray
    values: np.ndarray
    label_codes: dict[str, np.ndarray]
    label_values: dict[str, np.ndarray]

    def run(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Epoch ms and values of series ``i`` (views, not copies)."""
        rows = slice(self.bounds[i], self.bounds[i + 1])
        return self.t_ms[rows], self.values[rows]

    def labels(self, i: int) -> dict[str, str]:
        """The string labels of series ``i`` (a missing label has no key)."""
        out = {}
        for column, codes in self.label_codes.items():
            value = self.label_values[column][codes[i]] if codes[i] >= 0 else None
            if isinstance(value, str):
                out[column] = value
        return out


def series_runs(frame: pd.DataFrame) -> Runs:
    """The frame's samples grouped by series, in frame order, each series sorted by time."""
    codes, names = _series_codes(frame["series"])
    t_ms = epoch_ms(frame["timestamp"])
    values = frame["value"].to_numpy(dtype=np.float64)
    order = _run_order(codes, t_ms)
    if order is not None:
        codes, t_ms, values = codes[order], t_ms[order], values[order]
    bounds = np.searchsorted(codes, np.arange(len(names) + 1))
    present = np.flatnonzero(bounds[1:] > bounds[:-1])
    firsts = bounds[present]
    label_codes, label_values = {}, {}
    for c in frame.columns:
        if c in ("timestamp", "value", "series"):
            continue
        column = frame[c]  # one lookup per label column, for every series at once
        if isinstance(column.dtype, pd.CategoricalDtype):
            label_codes[c] = column.cat.codes.to_numpy()[_rows(order, firsts)]
            label_values[c] = column.cat.categories.to_numpy(dtype=object)
        else:
            label_values[c] = column.to_numpy(dtype=object)[_rows(order, firsts)]
            label_codes[c] = np.arange(len(firsts))
    return Runs([str(names[i]) for i in present], np.append(firsts, len(codes)),
                t_ms, values, label_codes, label_values)


_PER_MS = {"ns": 1_000_000, "us": 1_000, "ms": 1}
_NAT = np.iinfo(np.int64).min


def epoch_ms(stamps: pd.Series) -> np.ndarray:
    """Times as float epoch milliseconds, floored like ``.dt.as_unit("ms")``, in one pass."""
    array = stamps.array
    per_ms = _PER_MS.get(getattr(array, "unit", None))
    raw = array.asi8 if per_ms else None
    # pandas' own cast is overflow-safe and ~6x slower; plain floor division is exact here.
    if raw is None or np.any(raw == _NAT):
        return stamps.dt.as_unit("ms").array.asi8.astype(np.float64)
    return (raw // per_ms if per_ms > 1 else raw).astype(np.float64)


def _run_order(codes: np.ndarray, t_ms: np.ndarray) -> np.ndarray | None:
    """The row order grouping series and sorting each by time; None when already so.

    Frames from ``datasources.prometheus`` are already in that order (Prometheus sends
    each series sorted), so the common case is two whole-array checks and no copy.
    """
    step = np.diff(codes)
    if not len(step) or ((step > 0) | ((step == 0) & (np.diff(t_ms) >= 0))).all():
        return None
    return np.lexsort((t_ms, codes))  # stable: equal times keep their frame order


def _rows(order: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    return rows if order is None else order[rows]


def series_groups(frame: pd.DataFrame) -> list[tuple[str, tuple[np.ndarray, np.ndarray, dict]]]:
    """Per series, in frame order: (name, (epoch ms sorted, values, labels))."""
    runs = series_runs(frame)
    return [(name, (*runs.run(i), runs.labels(i))) for i, name in enumerate(runs.names)]


def _series_codes(series: pd.Series) -> tuple[np.ndarray, list]:
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    return cat.cat.codes.to_numpy(), list(cat.cat.categories)


def series_limit(points: int) -> int:
    """How many series a chart of ``points`` points a series may draw."""
    return max(1, min(MAX_SERIES, POINT_BUDGET // max(points, 1)))


def bounded_runs(runs: Runs, points: int) -> tuple[list[int], list[str]]:
    """The series to draw, in frame order, and a note when some are left out (``bounded``)."""
    limit, count = series_limit(points), len(runs.names)
    if count <= limit:
        return list(range(count)), []
    finite = np.where(np.isfinite(runs.values), np.abs(runs.values), -1.0)
    peaks = np.maximum.reduceat(finite, runs.bounds[:-1]) if len(finite) else finite
    return _highest(peaks, limit), [_left_out(limit, count)]


def bounded(groups, points: int):
    """At most MAX_SERIES series, and at most POINT_BUDGET points: the highest peaks stay."""
    limit = series_limit(points)
    if len(groups) <= limit:
        return groups, []
    peaks = [np.nanmax(np.abs(np.where(np.isfinite(g[1][1]), g[1][1], np.nan)), initial=-1)
             for g in groups]
    return [groups[i] for i in _highest(peaks, limit)], [_left_out(limit, len(groups))]


def _highest(peaks, limit: int) -> list[int]:
    return sorted(np.argsort(peaks, kind="stable")[::-1][:limit].tolist())


def _left_out(limit: int, count: int) -> str:
    return (f"showing {limit} of {count} series (the highest peaks); "
            "Download CSV has them all")


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


def untyped(typed_array: dict) -> np.ndarray:
    """``typed``'s inverse: plotly's base64 float64 array back to numpy."""
    return np.frombuffer(base64.b64decode(typed_array["bdata"]), dtype="<f8").copy()


def plain_text(text) -> str:
    """``text`` as plotly shows it literally: its HTML subset (``<a href>``, ``<b>``) escaped.

    plotly.js renders a subset of HTML in trace names, legends, hover labels and annotations:
    a label value ``<a href="…">`` would be a live link in the legend. As entities it is text.
    """
    return html.escape(str(text), quote=False)

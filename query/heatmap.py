"""What a bucket frame becomes on a heatmap: one row per bucket, one column per time.

Pure numpy over the bucket frames ``datasources.prom_histograms`` returns (timestamp, lower,
upper, count, boundary …). Rows are buckets ordered by bound, drawn evenly whatever their
width (an exponential native schema and hand-picked classic ``le`` values alike), so a value
on the chart is a row position: ``i - 0.5`` is the bottom of row ``i``, ``i + 0.5`` its top,
and a value inside a bucket sits in proportion between (histogram_quantile's own linear
interpolation). Quantile lines and exemplars use that position.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from query.chart import epoch_ms

#: cells one heatmap may send the browser (as plain JSON numbers, ~10 bytes a cell)
CELL_BUDGET = 60_000
QUANTILES = (0.5, 0.95, 0.99)


class Grid(NamedTuple):
    """A histogram over time: ``z[row, column]`` is the count of bucket ``row`` at ``x_ms``."""

    x_ms: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    boundary: np.ndarray
    z: np.ndarray

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw."""
        return self.z.size == 0


def grid(frame: pd.DataFrame) -> tuple[Grid, list[str]]:
    """The frame's buckets summed over its series, and notes on what was merged."""
    if frame.empty:
        return Grid(*(np.zeros(0) for _ in range(4)), np.zeros((0, 0))), []
    t_ms = epoch_ms(frame["timestamp"])
    lower = frame["lower"].to_numpy(np.float64)
    upper = frame["upper"].to_numpy(np.float64)
    rule = frame["boundary"].to_numpy(np.int64)
    times, column = np.unique(t_ms, return_inverse=True)
    # One complex key per bucket sorts by upper, then lower, ~7x faster than a record array;
    # set, not computed (inf * 1j would give NaN). Same bounds, same row (rule of the first).
    key = np.empty(len(upper), dtype=np.complex128)
    key.real, key.imag = upper, lower
    buckets, first, row = np.unique(key, return_index=True, return_inverse=True)
    flat = row.ravel() * len(times) + column.ravel()
    z = np.bincount(flat, weights=frame["count"].to_numpy(np.float64),
                    minlength=len(buckets) * len(times)).reshape(len(buckets), len(times))
    found = Grid(times, buckets.imag.copy(), buckets.real.copy(), rule[first], z)
    return within_budget(found)


def within_budget(g: Grid, budget: int = CELL_BUDGET) -> tuple[Grid, list[str]]:
    """``g`` with neighbouring buckets merged in pairs until its cells fit ``budget``."""
    merges = 0
    while g.z.size > budget and len(g.lower) > 8:
        g = _merged(g)
        merges += 1
    if not merges:
        return g, []
    return g, [f"neighbouring buckets merged {2 ** merges} into 1 to fit the chart"]


def _merged(g: Grid) -> Grid:
    odd = len(g.lower) % 2
    z = g.z if not odd else np.vstack([g.z, np.zeros((1, g.z.shape[1]))])
    lower = np.append(g.lower, g.upper[-1]) if odd else g.lower
    upper = np.append(g.upper, g.upper[-1]) if odd else g.upper
    rule = np.append(g.boundary, g.boundary[-1]) if odd else g.boundary
    return Grid(g.x_ms, lower[0::2], upper[1::2], rule[1::2], z[0::2] + z[1::2])


def quantile(g: Grid, q: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``q`` quantile at each time (as histogram_quantile interpolates) and its row
    position; NaN where a time holds no observations."""
    cum = np.cumsum(np.nan_to_num(g.z), axis=0)
    total = cum[-1] if len(cum) else np.zeros(0)
    rank = q * total
    row = np.array([np.searchsorted(cum[:, j], rank[j]) for j in range(len(total))], dtype=int)
    row = np.minimum(row, len(g.lower) - 1)
    cols = np.arange(len(total))
    below = np.where(row > 0, cum[np.maximum(row - 1, 0), cols], 0.0)
    inside = g.z[row, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip(np.where(inside > 0, (rank - below) / inside, 1.0), 0, 1)
    lo, hi = g.lower[row], g.upper[row]
    value = np.where(np.isinf(hi), lo, np.where(np.isinf(lo), hi, lo + frac * (hi - lo)))
    position = row - 0.5 + frac
    empty = ~(total > 0)
    value[empty] = np.nan
    position[empty] = np.nan
    return value, position


def row_position(g: Grid, values: np.ndarray) -> np.ndarray:
    """Where each value sits on the rows: in the first bucket whose upper bound holds it."""
    values = np.asarray(values, dtype=np.float64)
    if not len(g.upper):
        return np.full(len(values), np.nan)
    row = np.minimum(np.searchsorted(g.upper, values, side="left"), len(g.upper) - 1)
    lo, hi = g.lower[row], g.upper[row]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(np.isfinite(lo) & np.isfinite(hi) & (hi > lo),
                        (values - lo) / (hi - lo), 0.5)
    return row - 0.5 + np.clip(frac, 0, 1)


def bound_text(x: float) -> str:
    """A bucket bound as a tick shows it: "+Inf", "0.25", "1.09e-05"."""
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:.3g}"


class Exemplars(NamedTuple):
    """Exemplars ready to draw: epoch ms, observed values, and each one's ids."""

    x_ms: np.ndarray
    values: np.ndarray
    ids: list[dict[str, str]]


#: exemplars one panel draws at most (the latest are kept)
MAX_EXEMPLARS = 2_000
ID_COLUMNS = ("request_id", "trace_id", "span_id")


def exemplars(frame: pd.DataFrame | None, limit: int = MAX_EXEMPLARS) -> tuple[Exemplars, list]:
    """An exemplar frame as points (finite values only, the latest ``limit``), and notes."""
    if frame is None or frame.empty:
        return Exemplars(np.zeros(0), np.zeros(0), []), []
    frame = frame[np.isfinite(frame["value"].to_numpy(np.float64))]
    notes = []
    if len(frame) > limit:
        notes.append(f"showing the latest {limit} of {len(frame)} exemplars")
        frame = frame.sort_values("timestamp").tail(limit)
    columns = [c for c in ID_COLUMNS if c in frame]
    ids = [{c: v for c, v in zip(columns, row, strict=True) if isinstance(v, str)}
           for row in frame[columns].astype(object).itertuples(index=False)]
    return Exemplars(epoch_ms(frame["timestamp"]),
                     frame["value"].to_numpy(np.float64), ids), notes

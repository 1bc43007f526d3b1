"""The legend table under a chart: min, max, mean and last of each series over the range.

Computed on the server from the same long frame the chart is drawn from (``query.chart``'s
runs), bounded to ``MAX_ROWS`` series; NaN and ±Inf samples are left out of every figure.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from query.chart import series_runs

#: series listed in one legend table (the chart itself draws at most ``chart.MAX_SERIES``)
MAX_ROWS = 50
COLUMNS = ("min", "max", "mean", "last")


class Stat(NamedTuple):
    """One series' figures over the range; None when it has no finite sample."""

    series: str
    labels: dict[str, str]
    min: float | None
    max: float | None
    mean: float | None
    last: float | None


def series_stats(frame: pd.DataFrame, most: int = MAX_ROWS) -> tuple[list[Stat], int]:
    """Up to ``most`` series' figures, in the frame's series order, and how many series
    there are in all."""
    if frame is None or frame.empty:
        return [], 0
    runs = series_runs(frame)
    out = []
    for i in range(min(len(runs.names), most)):
        _, y = runs.run(i)
        finite = y[np.isfinite(y)]
        if finite.size == 0:
            out.append(Stat(runs.names[i], runs.labels(i), None, None, None, None))
            continue
        out.append(Stat(runs.names[i], runs.labels(i), float(finite.min()),
                        float(finite.max()), float(finite.mean()), float(finite[-1])))
    return out, len(runs.names)


_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def formatted(value: float | None, unit: str = "") -> str:
    """A figure as the table shows it, in the panel's unit ("–" when there is none)."""
    if value is None or not math.isfinite(value):
        return "–"
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit in ("bytes", "B", "B/s", "bytes/s"):
        suffix = {"bytes": "B", "bytes/s": "B/s"}.get(unit, unit)
        for scale, prefix in _SI:
            if abs(value) >= scale:
                return f"{value / scale:.3g} {prefix}{suffix}"
        return f"{value:.3g} {suffix}"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit and unit != "%" else text + unit

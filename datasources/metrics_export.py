"""A metric panel's frame as CSV that is safe to open in a spreadsheet.

Text cells pass through ``logs_export.safe_cell`` (OWASP "CSV injection": a leading = + - @,
tab or CR gets an apostrophe). Finite numbers stay numbers ("-1.5" is a number, not a formula).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from datasources.logs_export import safe_cell


def sample_text(values: np.ndarray) -> list[str]:
    """Sample values as Prometheus writes them: shortest exact text, NaN, '+Inf, '-Inf."""
    out = []
    for v in values.tolist():
        if math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append(safe_cell("+Inf" if v > 0 else "-Inf"))
        else:
            out.append(repr(v))
    return out


def metric_frame_csv(frame: pd.DataFrame) -> str:
    """A metric frame as CSV: timestamp (ISO-8601 UTC), series, one column per label, value."""
    labels = [c for c in frame.columns if c not in ("timestamp", "series", "value")]
    ts = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, -3) + "Z"
    out = pd.DataFrame({"timestamp": ts}, copy=False)
    out["series"] = _safe_column(frame["series"])
    for c in labels:
        out[c] = _safe_column(frame[c])
    out["value"] = sample_text(frame["value"].to_numpy(dtype=np.float64))
    return out.to_csv(index=False, lineterminator="\n")


def _safe_column(column: pd.Series) -> pd.Series:
    # Categorical columns hold few distinct values: neutralise each once, not once per row.
    if isinstance(column.dtype, pd.CategoricalDtype):
        texts = np.array([safe_cell(c) for c in column.cat.categories] + [""], dtype=object)
        return pd.Series(texts[column.cat.codes.to_numpy()], index=column.index)
    return column.map(safe_cell)

"""A live range's latest point: an instant query's samples joined to the range's long frame.

A live window is aligned to its step with its end floored (``timerange.plan``), so a 7 d chart
stops up to a step (2 h) short of now. ``timerange.latest_instant`` says when one instant
query of the same expression is worth asking; ``joined`` appends its samples to the range's
frame as each series' last point.

Pure pandas over the long frames of ``datasources.prometheus.frame_from_response``
(timestamp, value, series, one categorical column per label).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def joined(frame: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``latest``'s samples appended, each as its series' last point.

    Series are matched by the ``series`` column. ``frame``'s rows keep their order; a
    sample goes right after its series' last row, a series only in ``latest`` after all of
    them. A sample not newer than its series' last one in ``frame`` is left out (a stale
    answer from an older instant must not go back in time). Categorical columns stay
    categorical (``frame``'s categories first); ``frame.attrs`` are kept, ``latest``'s
    warnings added to its own.
    """
    fresh = _newer(frame, latest)
    attrs = {**frame.attrs, "warnings": _warnings(frame, latest)}
    if fresh.empty:
        out = frame.copy(deep=False)
        out.attrs = attrs
        return out
    names = list(dict.fromkeys([*frame.columns, *fresh.columns]))
    out = pd.DataFrame({n: _column(frame.get(n), fresh.get(n), len(frame), len(fresh))
                        for n in names})
    out = out.iloc[_order(out["series"], len(frame))].reset_index(drop=True)
    out.attrs = attrs
    return out


def _newer(frame: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``latest`` newer than their series' last sample in ``frame``."""
    if latest.empty or frame.empty:
        return latest
    last = frame.groupby(frame["series"].astype(object), sort=False)["timestamp"].max()
    before = latest["series"].astype(object).map(last)
    return latest[before.isna().to_numpy() | (latest["timestamp"] > before).to_numpy()]


def _warnings(frame: pd.DataFrame, latest: pd.DataFrame) -> list[str]:
    own = list(frame.attrs.get("warnings", []))
    return own + [w for w in latest.attrs.get("warnings", []) if w not in own]


def _column(left: pd.Series | None, right: pd.Series | None, n_left: int, n_right: int):
    """One column of both frames, one after the other (a side without it: missing values)."""
    if any(s is not None and isinstance(s.dtype, pd.CategoricalDtype) for s in (left, right)):
        categories = _categories(left, right)
        codes = [np.full(n, -1, dtype=np.int64) if s is None else
                 categories.get_indexer(s.astype(object)) for s, n in ((left, n_left),
                                                                      (right, n_right))]
        return pd.Categorical.from_codes(np.concatenate(codes), categories=categories)
    model = left if left is not None else right
    parts = [model.iloc[:0].reindex(range(n)) if s is None else s
             for s, n in ((left, n_left), (right, n_right))]
    return pd.concat(parts, ignore_index=True)


def _categories(left: pd.Series | None, right: pd.Series | None) -> pd.Index:
    """``left``'s categories (or values), then ``right``'s not among them, in their order."""
    found = []
    for s in (left, right):
        if s is None:
            continue
        values = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.dropna()
        found.extend(values.tolist())
    return pd.Index(list(dict.fromkeys(found)), dtype=object)


def _order(series: pd.Series, n_left: int) -> np.ndarray:
    """Row order putting each appended row after its series' last row in the first frame."""
    codes, names = pd.factorize(series)
    last = np.full(len(names), -1, dtype=np.int64)
    np.maximum.at(last, codes[:n_left], np.arange(n_left))
    after = last[codes[n_left:]]
    tail = np.arange(n_left, len(codes), dtype=np.float64)
    keys = np.concatenate([np.arange(n_left, dtype=np.float64),
                           np.where(after >= 0, after + 0.5, tail)])
    return np.argsort(keys, kind="stable")

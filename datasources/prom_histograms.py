"""Histograms and exemplars from the Prometheus API: pure body → frame functions.

``buckets_from_response`` turns a query body into one bucket frame whatever the histogram
kind: native histograms (``histogram`` / ``histograms`` in vector and matrix results,
Prometheus 2.40+ behind ``--enable-feature=native-histograms``) keep every bucket the body
lists, with its boundary rule and the zero bucket; classic histograms (``*_bucket`` series
with ``le``) are de-cumulated into the same shape. ``exemplars_from_response`` frames
``/api/v1/query_exemplars``. A body that is not what the API promises is ``BadResponse``
naming the field, never another exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from datasources.errors import BadResponse
from datasources.prometheus import (
    SHADOWED_PREFIX,
    display_name,
    frame_from_result,
    label_columns,
    notes_of,
    sample_seconds,
    series_labels,
    success_doc,
    unique_names,
    utc_timestamps,
)
from datasources.strict import go_float, label_set, need_list, need_object, wrong

#: One row per bucket per sample: its bounds, count and boundary rule, and the sample's
#: ``sum`` and ``total`` (observation count), then one categorical column per label.
BUCKET_COLUMNS = ("timestamp", "series", "lower", "upper", "count", "boundary", "sum", "total")
#: Prometheus' boundary rule codes: whether each side of a bucket is closed (inclusive).
#: 0 (lower, upper] (positive buckets, classic ``le``), 1 [lower, upper) (negative buckets),
#: 2 (lower, upper), 3 [lower, upper] (the zero bucket).
LOWER_CLOSED = {0: False, 1: True, 2: False, 3: True}
UPPER_CLOSED = {0: True, 1: False, 2: False, 3: True}
#: Cumulative counts from ``rate()`` may dip by float rounding; Prometheus' own
#: histogram_quantile treats a dip this small (relative) as no change, and so do we.
SMALL_DIP = 1e-12


def lower_closed(codes) -> np.ndarray:
    """Whether each bucket's lower bound is inside it, from its boundary rule code."""
    return np.isin(np.asarray(codes), (1, 3))


def upper_closed(codes) -> np.ndarray:
    """Whether each bucket's upper bound is inside it, from its boundary rule code."""
    return np.isin(np.asarray(codes), (0, 3))


# --- the bucket frame -------------------------------------------------------------------------

def buckets_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus",
                          expr: str | None = None) -> pd.DataFrame:
    """A query body → bucket frame (``BUCKET_COLUMNS`` and labels), native and classic alike.

    Float series with an ``le`` label are classic buckets, de-cumulated (a dip in the
    cumulative counts beyond float rounding is ``BadResponse``); other float series are left
    out with a note in ``frame.attrs["warnings"]``, as are the body's own warnings.
    """
    doc = success_doc(body, upstream)
    data = need_object(doc["data"], "query data", upstream)
    kind, result = data.get("resultType"), data.get("result")
    notes: list[str] = []
    if kind in ("vector", "matrix"):
        result = need_list(result, f"the {kind}'s result", upstream)
        native = [s for s in result if isinstance(s, Mapping) and _HISTOGRAM_KEY[kind] in s]
        floats = [s for s in result if not (isinstance(s, Mapping)
                                            and _HISTOGRAM_KEY[kind] in s)]
        parts = [native_buckets(kind, native, upstream, expr)]
        if floats:
            frame, _ = frame_from_result(kind, floats, upstream=upstream, expr=expr)
            part, notes = classic_buckets(frame, upstream, expr)
            parts.append(part)
        frame = _concat(parts)
    else:
        frame_from_result(kind, result, upstream=upstream)  # raises for a malformed body
        frame = empty_buckets()
        notes.append(f"a {kind} result holds no histogram")
    frame.attrs["warnings"] = notes_of(doc, upstream) + notes
    return frame


_HISTOGRAM_KEY = {"vector": "histogram", "matrix": "histograms"}


def empty_buckets() -> pd.DataFrame:
    """A bucket frame without rows."""
    return _bucket_frame([], np.zeros(0, np.int32), np.zeros(0), *([np.zeros(0)] * 3),
                         np.zeros(0, np.int8), np.zeros(0), np.zeros(0), "Prometheus")


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True)
    for column in frame.columns:  # categories differ between parts: union them
        if column == "series" or column not in BUCKET_COLUMNS:
            frame[column] = frame[column].astype("category")
    return frame


# --- native histograms ------------------------------------------------------------------------

def native_buckets(kind: str, result: list, upstream: str = "Prometheus",
                   expr: str | None = None) -> pd.DataFrame:
    """Every bucket of every native-histogram sample of a vector or matrix ``result``."""
    metrics = series_labels(result, kind, upstream)
    floats: dict[str, float] = {}
    cols: dict[str, list] = {k: [] for k in ("owner", "t", "lower", "upper", "count", "rule",
                                             "sum", "total", "every_t")}
    for i, series in enumerate(result):
        where = f"{kind} series {i}"
        found = series[_HISTOGRAM_KEY[kind]]
        samples = [found] if kind == "vector" else need_list(found, f"{where}: histograms",
                                                             upstream)
        for j, sample in enumerate(samples):
            _sample_rows(cols, i, sample, f"{where} histogram {j}", upstream, floats)
    # A sample without buckets has no row, but its time must still be one pandas holds.
    utc_timestamps(sample_seconds(cols.pop("every_t"), upstream), upstream)
    return _bucket_frame(metrics, np.array(cols["owner"], dtype=np.int32),
                         sample_seconds(cols["t"], upstream),
                         *(np.array(cols[k], dtype=np.float64) for k in ("lower", "upper",
                                                                          "count")),
                         np.array(cols["rule"], dtype=np.int8),
                         np.array(cols["sum"], dtype=np.float64),
                         np.array(cols["total"], dtype=np.float64), upstream, expr)


def _sample_rows(cols: dict[str, list], owner: int, sample: Any, where: str,
                 upstream: str, floats: dict[str, float]) -> None:
    pair = need_list(sample, where, upstream)
    if len(pair) != 2:
        raise wrong(upstream, where, sample, "a [timestamp, histogram] pair")
    stamp, hist = pair
    cols["every_t"].append(stamp)
    need_object(hist, f"{where}: histogram", upstream)
    total = _read(floats, hist.get("count"), where, "count", upstream)
    total_sum = _read(floats, hist.get("sum"), where, "sum", upstream)
    buckets = hist.get("buckets")
    buckets = [] if buckets is None else need_list(buckets, f"{where}: buckets", upstream)
    rows = [_bucket(bucket, where, k, upstream, floats) for k, bucket in enumerate(buckets)]
    n = len(rows)
    for key, column in zip(("rule", "lower", "upper", "count"), zip(*rows, strict=True),
                           strict=False):
        cols[key].extend(column)
    for key, value in (("owner", owner), ("t", stamp), ("sum", total_sum), ("total", total)):
        cols[key].extend([value] * n)


def _read(floats: dict[str, float], text: Any, where: str, name: str, upstream: str) -> float:
    """``go_float`` of ``text``, remembered: a body repeats its bucket bounds every sample."""
    if type(text) is str:
        found = floats.get(text)
        if found is not None:
            return found
    value = floats[text] = go_float(text, f"{where}: {name}", upstream)
    return value


def _bucket(bucket: Any, where: str, k: int, upstream: str, floats: dict[str, float]
            ) -> tuple[int, float, float, float]:
    """``[rule, "lower", "upper", "count"]`` checked: a known rule, lower ≤ upper."""
    if type(bucket) is not list or len(bucket) != 4:
        raise wrong(upstream, f"{where} bucket {k}", bucket, '[rule, "lower", "upper", "count"]')
    rule, lower, upper, count = bucket
    if type(rule) is not int or rule not in LOWER_CLOSED:
        raise wrong(upstream, f"{where} bucket {k}: boundary rule", rule, "0, 1, 2 or 3")
    where = f"{where} bucket {k}"
    lower, upper, count = (_read(floats, v, where, name, upstream)
                           for v, name in ((lower, "lower"), (upper, "upper"), (count, "count")))
    if not lower <= upper:  # also catches NaN bounds
        raise BadResponse(upstream, f"{where}: lower bound {lower!r} is above upper {upper!r}")
    return rule, lower, upper, count


def _bucket_frame(metrics: list[Mapping], owner: np.ndarray, seconds: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, count: np.ndarray, rule: np.ndarray,
                  total_sum: np.ndarray, total: np.ndarray, upstream: str,
                  expr: str | None = None) -> pd.DataFrame:
    names = unique_names([display_name(m, expr) for m in metrics])
    columns = {
        "timestamp": utc_timestamps(seconds, upstream),
        "series": pd.Categorical.from_codes(owner, categories=pd.Index(names, dtype=object)),
        "lower": lower, "upper": upper, "count": count, "boundary": rule,
        "sum": total_sum, "total": total,
        **{(SHADOWED_PREFIX + k if k in BUCKET_COLUMNS else k): v
           for k, v in label_columns(metrics, owner).items()},
    }
    return pd.DataFrame(columns, copy=False)


# --- classic histograms -----------------------------------------------------------------------

def classic_buckets(frame: pd.DataFrame, upstream: str = "Prometheus",
                    expr: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A long query frame's ``le`` series → bucket frame, and notes on what was left out.

    Series sharing every label but ``le`` (and ``__name__`` up to its ``_bucket`` suffix) are
    one histogram. At each time its cumulative counts are sorted by ``le`` and differenced:
    bucket ``(previous le, le]``, the first from 0 (or -Inf when its ``le`` is not above 0,
    as histogram_quantile assumes), the last up to ``+Inf``. ``total`` is the ``+Inf``
    bucket's count (NaN without one); ``sum`` is not in bucket series, so NaN.
    """
    notes = []
    has_le = frame["le"].notna().to_numpy() if "le" in frame else np.zeros(len(frame), bool)
    others = frame.loc[~has_le, "series"].nunique() if len(frame) else 0
    if others:
        notes.append(f"{others} series without an le label are not histogram buckets: "
                     "not shown")
    rows = frame.loc[has_le]
    if rows.empty:
        return empty_buckets(), notes
    groups, base = _groups(rows, expr)
    owner = groups[0]
    upper = _le_values(rows["le"], upstream)
    t_ns = rows["timestamp"].array.asi8
    counts = rows["value"].to_numpy(dtype=np.float64)
    order = np.lexsort((upper, t_ns, owner))
    owner, t_ns, upper, counts = owner[order], t_ns[order], upper[order], counts[order]
    first = np.ones(len(owner), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (t_ns[1:] != t_ns[:-1])
    lower, count = _decumulate(owner, t_ns, upper, counts, first, groups[1], upstream)
    last = np.append(first[1:], True)
    block = np.cumsum(first) - 1
    total = np.where(np.isinf(upper[last]) & (upper[last] > 0), counts[last], np.nan)
    if len(total) and np.isnan(total).any():
        notes.append("a classic histogram without an le=\"+Inf\" bucket: its total is unknown")
    out = _bucket_frame(base, owner.astype(np.int32), t_ns / 1e9, lower, upper, count,
                        np.zeros(len(owner), np.int8), np.full(len(owner), np.nan),
                        total[block], upstream, expr)
    out["timestamp"] = pd.array(t_ns.view("M8[ns]")).tz_localize("UTC")  # exact, no float trip
    return out, notes


def _groups(rows: pd.DataFrame, expr: str | None) -> tuple[tuple[np.ndarray, list[str]],
                                                             list[dict]]:
    """Each row's histogram (an index) and the histograms' label sets (``le`` dropped)."""
    label_cols = [c for c in rows.columns if c not in ("timestamp", "value", "series", "le")]
    keys: dict[tuple, int] = {}
    base: list[dict] = []
    owner = np.zeros(len(rows), dtype=np.int64)
    codes = rows["series"].cat.codes.to_numpy() if len(rows) else np.zeros(0, np.int64)
    by_series: dict[int, int] = {}
    for i, code in enumerate(codes):
        if code not in by_series:
            labels = {c: rows[c].iat[i] for c in label_cols if isinstance(rows[c].iat[i], str)}
            name = labels.get("__name__", "")
            if name.endswith("_bucket"):
                labels["__name__"] = name[:-len("_bucket")]
            key = tuple(sorted(labels.items()))
            by_series[code] = keys.setdefault(key, len(keys))
            if by_series[code] == len(base):
                base.append(labels)
        owner[i] = by_series[code]
    names = [display_name(b, expr) for b in base]
    return (owner, names), base


def _le_values(le: pd.Series, upstream: str) -> np.ndarray:
    cats = le.cat.categories if isinstance(le.dtype, pd.CategoricalDtype) else le.unique()
    parsed = {v: go_float(v, "an le label", upstream) for v in cats}
    if any(math.isnan(v) for v in parsed.values()):
        raise BadResponse(upstream, "an le label is NaN")
    return np.array([parsed[v] for v in le.to_numpy(dtype=object)], dtype=np.float64)


def _decumulate(owner, t_ns, upper, counts, first, names, upstream
                ) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds and per-bucket counts from sorted cumulative counts."""
    prev_upper = np.append(np.nan, upper[:-1])
    prev = np.append(0.0, counts[:-1])
    repeated = ~first & (upper == prev_upper)
    if repeated.any():
        i = int(np.argmax(repeated))
        raise BadResponse(upstream, f"{names[owner[i]]} has le={float(upper[i])!r} twice at "
                                    f"{_when(t_ns[i])}")
    prev[first] = 0.0
    lower = np.where(first, np.where(upper > 0, 0.0, -np.inf), prev_upper)
    count = counts - prev
    with np.errstate(invalid="ignore"):
        dip = count < 0
        small = np.abs(count) <= SMALL_DIP * np.maximum(np.abs(counts), np.abs(prev))
    if (dip & ~small).any():
        i = int(np.argmax(dip & ~small))
        raise BadResponse(upstream, f"{names[owner[i]]} is not cumulative at {_when(t_ns[i])}: "
                                    f"le={float(upper[i])!r} holds {float(counts[i])!r}, less "
                                    f"than {float(prev[i])!r} below it")
    count[dip & small] = 0.0
    return lower, count


def _when(ns: int) -> str:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").isoformat()


# --- exemplars ---------------------------------------------------------------------------------

def exemplars_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                            ) -> pd.DataFrame:
    """``/api/v1/query_exemplars`` → one row per exemplar: timestamp, value, series, then its
    own labels (trace_id, request_id …), then its series' labels.

    A series label that an exemplar label also names is kept as ``series_<name>``; a label
    named like a core column gets the ``label_`` prefix.
    """
    doc = success_doc(body, upstream)
    data = doc["data"]
    groups = [] if data is None else need_list(data, "exemplar data", upstream)
    series, own, owner, stamps, values = [], [], [], [], []
    for i, group in enumerate(groups):
        where = f"exemplar series {i}"
        need_object(group, where, upstream)
        series.append(label_set(group.get("seriesLabels"), f"{where}: seriesLabels", upstream))
        found = need_list(group.get("exemplars"), f"{where}: exemplars", upstream)
        for j, ex in enumerate(found):
            at = f"{where} exemplar {j}"
            need_object(ex, at, upstream)
            own.append(label_set(ex.get("labels"), f"{at}: labels", upstream))
            values.append(go_float(ex.get("value"), f"{at}: value", upstream))
            stamps.append(ex.get("timestamp"))
            owner.append(i)
    frame = _exemplar_frame(series, own, np.array(owner, dtype=np.int64),
                            sample_seconds(stamps, upstream), np.array(values, np.float64),
                            upstream)
    frame.attrs["warnings"] = notes_of(doc, upstream)
    return frame


def _exemplar_frame(series: list[dict], own: list[dict], owner: np.ndarray,
                    seconds: np.ndarray, values: np.ndarray, upstream: str) -> pd.DataFrame:
    names = unique_names([display_name(s) for s in series])
    columns: dict[str, Any] = {
        "timestamp": utc_timestamps(seconds, upstream), "value": values,
        "series": pd.Categorical.from_codes(owner.astype(np.int32),
                                            categories=pd.Index(names, dtype=object)),
    }
    # label_columns already prefixes a label named like a core column ("label_value").
    columns.update(label_columns(own, np.arange(len(own))))
    for key, column in label_columns(series, owner).items():
        columns["series_" + key if key in columns else key] = column
    return pd.DataFrame(columns, copy=False)


def describe_bucket(lower: float, upper: float, rule: int) -> str:
    """``(0.1, 0.25]``: a bucket's bounds with its boundary rule, for a hover or a tick."""
    left = "[" if LOWER_CLOSED.get(rule) else "("
    right = "]" if UPPER_CLOSED.get(rule) else ")"
    return f"{left}{_num(lower)}, {_num(upper)}{right}"


def _num(x: float) -> str:
    return "+Inf" if x == math.inf else "-Inf" if x == -math.inf else f"{x:.6g}"


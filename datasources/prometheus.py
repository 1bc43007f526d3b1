"""Prometheus HTTP API (and VictoriaMetrics, which speaks it): build → fetch → frame.

``build_*`` return form parameters, ``Prometheus`` fetches them through the cache layer, and the
``*_from_response`` functions are pure: an upstream body in, a frame (or list, dict) out. Error
bodies raise the error family with the upstream's own words; a body that breaks the API's
promise anywhere (a wrong-typed field, a value Go would not parse, a time pandas cannot hold)
is ``BadResponse`` naming the field (``datasources.strict``), never coerced or read as empty.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import chain
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson
import pandas as pd
import requests

from config import Upstream
from datasources.cache import Cache, Result, cache_key
from datasources.errors import BadResponse, DatasourceError, QueryError, Unreachable
from datasources.http import make_session, plain_error, request, scrubbing
from datasources.strict import (
    go_float,
    label_set,
    loads,
    need_list,
    need_object,
    optional_number,
    optional_str,
    required_str,
    snippet,
    strings,
    wrong,
)
from query.promql import series_name
from query.timerange import format_duration

CORE_COLUMNS = ("timestamp", "value", "series")
#: A label whose name is a core column gets this prefix ("label_value").
SHADOWED_PREFIX = "label_"
TIMESTAMP_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
#: errorType values that mean "could not answer now" rather than "bad query".
_UNAVAILABLE_TYPES = {"timeout", "canceled", "unavailable", "internal"}
#: VictoriaMetrics prefixes every error with the query and its times; the rest is the reason.
_VM_PREFIX = re.compile(r"^error when executing query=.*? (?:for \(time=\d+, step=\d+\)|"
                        r"on the time range \(start=\d+, end=\d+, step=\d+\)): ", re.DOTALL)
#: Share of the client timeout given to the server for evaluation (the rest is for transfer).
SERVER_TIMEOUT_SHARE = 0.8


# --- building requests ------------------------------------------------------------------------

def build_range_request(query: str, start: float, end: float, step: float, *,
                        timeout: float | None = None) -> dict[str, str]:
    """Form parameters of ``/api/v1/query_range``."""
    params = {"query": query, "start": _num(start), "end": _num(end), "step": _num(step)}
    return _with_timeout(params, timeout)


def build_instant_request(query: str, time: float | None = None, *,
                          timeout: float | None = None) -> dict[str, str]:
    """Form parameters of ``/api/v1/query``; no ``time`` means the server's now."""
    params = {"query": query}
    if time is not None:
        params["time"] = _num(time)
    return _with_timeout(params, timeout)


def server_timeout(client_timeout: float) -> float:
    """The evaluation timeout sent to the server, a little shorter than ours."""
    return round(client_timeout * SERVER_TIMEOUT_SHARE, 3)


def _with_timeout(params: dict[str, str], timeout: float | None) -> dict[str, str]:
    if timeout:
        params["timeout"] = format_duration(timeout)
    return params


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


# --- error bodies -----------------------------------------------------------------------------

def error_words(doc: Mapping, upstream: str = "Prometheus") -> tuple[str | None, str]:
    """(errorType, error) of an error body, VictoriaMetrics' boilerplate trimmed."""
    message = (optional_str(doc, "error", "the error body", upstream) or "no error text").strip()
    error_type = optional_str(doc, "errorType", "the error body", upstream) or None
    if error_type and error_type.isdigit():
        # VictoriaMetrics puts the HTTP status in errorType; the status is kept elsewhere.
        error_type = None
        message = _VM_PREFIX.sub("", message, count=1)
    return error_type, message


def read_error(resp: requests.Response) -> tuple:
    """Error reader for ``http.request``: the JSON error body (and its warnings), else the
    plain text."""
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return plain_error(resp)
    if isinstance(doc, dict) and doc.get("status") == "error":
        try:
            words, notes = error_words(doc), _error_notes(doc)
            return (*words, notes) if notes else words
        except BadResponse:
            pass  # an error body of the wrong shape: its text is still the upstream's words
    return plain_error(resp)


def _error_notes(doc: Mapping, upstream: str = "Prometheus") -> list[str]:
    """The warnings of an error body; misshapen ones are dropped (the error is what matters)."""
    try:
        return notes_of(doc, upstream)
    except BadResponse:
        return []


def error_from_body(doc: Mapping, upstream: str = "Prometheus") -> DatasourceError:
    """The family member for a ``"status": "error"`` body seen with HTTP 200."""
    error_type, message = error_words(doc, upstream)
    kind = Unreachable if error_type in _UNAVAILABLE_TYPES else QueryError
    return kind(upstream, message, error_type=error_type, warnings=_error_notes(doc, upstream))


def success_doc(body: bytes | str | Mapping, upstream: str = "Prometheus") -> Mapping:
    """The parsed success body; error, non-JSON and malformed bodies raise."""
    doc = body if isinstance(body, Mapping) else loads(body, upstream)
    if not isinstance(doc, Mapping):
        raise BadResponse(upstream, f"not a JSON object: {snippet(body)}")
    if doc.get("status") == "error":
        raise error_from_body(doc, upstream)
    if doc.get("status") != "success" or "data" not in doc:
        raise BadResponse(upstream, f"no \"status\": \"success\" with data: {snippet(body)}")
    return doc


# --- frames -----------------------------------------------------------------------------------

def frame_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus",
                        expr: str | None = None) -> pd.DataFrame:
    """A query body → long frame: timestamp, value, series, one categorical column per label.

    Matrix, vector and scalar results give the same shape; a string result is one row with
    its text in a ``text`` column. A series without labels is named by ``expr`` (the query,
    as Grafana does), else ``{}``. Warnings (and infos) of the body are in
    ``frame.attrs["warnings"]``. A body that breaks the API's promise in any field is
    ``BadResponse`` naming the field: nothing is coerced or read as empty.
    """
    fast = _matrix_fast(body, upstream, expr=expr) if isinstance(body, bytes) else None
    if fast is not None:
        doc, frame, notes = fast
    else:
        doc = success_doc(body, upstream)
        data = need_object(doc["data"], "query data", upstream)
        frame, notes = frame_from_result(data.get("resultType"), data.get("result"),
                                         upstream=upstream, expr=expr)
    frame.attrs["warnings"] = notes_of(doc, upstream) + notes
    return frame


def frame_from_result(result_type: str | None, result: Any, *, upstream: str = "Prometheus",
                      expr: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Frame the ``data.result`` of a query; also returns notes about samples left out."""
    if result_type == "string":
        return string_frame(result, upstream, expr), []
    if result_type == "scalar":
        return _assemble([{}], *_flatten([[result]], upstream), upstream, expr), []
    if result_type in ("vector", "matrix"):
        return _series_frame(result_type, need_list(result, f"the {result_type}'s result",
                                                    upstream), upstream, expr)
    if result_type is None:
        raise BadResponse(upstream, "query data has no resultType")
    raise BadResponse(upstream, f"unknown result type {snippet(result_type)}")


def string_frame(result: Any, upstream: str = "Prometheus", expr: str | None = None
                 ) -> pd.DataFrame:
    """A ``string`` result ``[t, "text"]``: one row, value NaN, the text in ``text``."""
    pair = need_list(result, "the string's result", upstream)
    if len(pair) != 2 or type(pair[1]) is not str:
        raise wrong(upstream, "the string's result", result, 'a [timestamp, "text"] pair')
    seconds = sample_seconds([pair[0]], upstream)
    frame = _assemble([{}], np.ones(1, dtype=np.int64), seconds, np.full(1, np.nan), upstream,
                      expr)
    frame["text"] = pd.array([pair[1]], dtype=object)
    return frame


def _series_frame(result_type: str, result: list, upstream: str, expr: str | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    key = "value" if result_type == "vector" else "values"
    samples = []
    for i, series in enumerate(result):
        need_object(series, f"{result_type} series {i}", upstream)
        if key in series:
            found = series[key]
            samples.append([found] if key == "value" else
                           need_list(found, f"{result_type} series {i}: values", upstream))
        elif _HISTOGRAM_KEYS & series.keys():
            samples.append([])
        else:
            raise BadResponse(upstream, f"{result_type} series {i} has no {key!r}")
    flat = _flatten(samples, upstream)
    metrics = series_labels(result, result_type, upstream)
    return _assemble(metrics, *flat, upstream, expr), _histogram_notes(result)


#: Native histograms (Prometheus 2.40+) come in these keys; they are left out with a note.
_HISTOGRAM_KEYS = frozenset({"histogram", "histograms"})


def series_labels(result: list, result_type: str, upstream: str) -> list[Mapping[str, str]]:
    """The ``metric`` label set of every series (each series must be an object with one)."""
    metrics = []
    for i, series in enumerate(result):
        where = f"{result_type} series {i}"
        need_object(series, where, upstream)
        metrics.append(label_set(series.get("metric"), f"{where}: metric", upstream))
    return metrics


def _histogram_notes(result: list[Mapping]) -> list[str]:
    skipped = sum(1 for s in result if _HISTOGRAM_KEYS & s.keys())
    return ([f"{skipped} native-histogram series not shown (a heatmap panel shows them)"]
            if skipped else [])


def _flatten(samples: list[list], upstream: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    pairs = list(chain.from_iterable(samples))
    # Type checks run over the whole run at C speed (map/set), not a Python loop per sample.
    if pairs and (set(map(type, pairs)) != {list} or set(map(len, pairs)) != {2}):
        raise BadResponse(upstream, "samples are not [timestamp, \"value\"] pairs")
    flat = list(chain.from_iterable(pairs))
    return counts, sample_seconds(flat[0::2], upstream), parse_values(flat[1::2], upstream)


def sample_seconds(stamps: list, upstream: str = "Prometheus") -> np.ndarray:
    """Sample timestamps, which must be JSON numbers (not true, null or strings), as float64."""
    if stamps and not set(map(type, stamps)) <= {int, float}:
        bad = next(t for t in stamps if type(t) not in (int, float))
        raise wrong(upstream, "a sample timestamp", bad, "a number of seconds")
    try:
        return np.array(stamps, dtype=np.float64)
    except OverflowError:  # an integer past float64 (only from a dict built in Python)
        raise BadResponse(upstream, "a sample timestamp is outside the float64 range") from None


def _assemble(metrics: list[Mapping], counts: np.ndarray, seconds: np.ndarray,
              values: np.ndarray, upstream: str, expr: str | None = None) -> pd.DataFrame:
    owner = np.repeat(np.arange(len(metrics), dtype=np.int32), counts)
    names = unique_names([display_name(m, expr) for m in metrics])
    columns = {
        "timestamp": utc_timestamps(seconds, upstream),
        "value": values,
        "series": pd.Categorical.from_codes(owner, categories=pd.Index(names, dtype=object)),
        **label_columns(metrics, owner),
    }
    return pd.DataFrame(columns, copy=False)


# A matrix body is mostly [t,"v"] pairs. Parsing it whole makes ~4 Python objects per sample;
# instead the pairs are cut out of the bytes and read as CSV by pandas' C reader (fast_float:
# exact, NaN and ±Inf included), and only the small rest (labels, warnings) goes to orjson.
# The CSV reader is lenient (it reads "true" as 1, " 1" as 1, an empty field as NaN), so the
# runs are first checked, vectorised, to be exactly the JSON Prometheus writes; anything else
# goes to the plain path, which decides exactly.
_VALUES_KEY = b'"values":['


def _matrix_fast(body: bytes, upstream: str, chunk_bytes: int | None = None,
                 expr: str | None = None) -> tuple[Mapping, pd.DataFrame, list] | None:
    """Frame a compact matrix body without a Python object per sample; None if not one."""
    split = _split_values(body)
    if split is None:
        return None
    skeleton, spans = split
    if any(body[s:s + 1] != b"[" for s, e in spans if e > s):
        return None
    try:
        doc = orjson.loads(skeleton)
    except orjson.JSONDecodeError:
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if not (isinstance(result, list) and doc.get("status") == "success"
            and data.get("resultType") == "matrix" and len(result) == len(spans)
            and all(isinstance(s, dict) and s.get("values") == [] for s in result)):
        return None
    parsed = _read_pairs(body, spans, chunk_bytes or CHUNK_BYTES)
    if parsed is None:
        return None
    metrics = series_labels(result, "matrix", upstream)
    return doc, _assemble(metrics, *parsed, upstream, expr), _histogram_notes(result)


def _split_values(body: bytes) -> tuple[bytes, list[tuple[int, int]]] | None:
    """The body with every "values" array emptied, and where each array's inside lies."""
    parts, spans, pos = [], [], 0
    while (i := body.find(_VALUES_KEY, pos)) >= 0:
        start = i + len(_VALUES_KEY)
        # Values are number strings, so the first "]]" closes the last pair and the array.
        end = start if body[start:start + 1] == b"]" else body.find(b"]]", start) + 1
        if end == 0:
            return None
        parts.append(body[pos:start])
        spans.append((start, end))
        pos = end
    if not spans:
        return None
    parts.append(body[pos:])
    return b"".join(parts), spans


#: Values runs are cut out and read this many bytes at a time (a whole series at least), so
#: beside the body only one chunk's text and checks are held, never a copy of every run.
CHUNK_BYTES = 1 << 22


def _read_pairs(body: bytes, spans: list[tuple[int, int]], chunk_bytes: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Counts, timestamps and values of the ``[t,"v"],[t,"v"]`` runs at ``spans``."""
    counts = _pair_counts(body, spans)
    total = int(counts.sum())
    seconds, values = np.empty(total), np.empty(total)
    done = 0
    for chunk in _chunks(spans, counts, chunk_bytes):
        n = int(counts[chunk].sum())
        text = b"\n".join(body[s + 1:e - 1].replace(b"],[", b"\n")
                          for s, e in (spans[i] for i in chunk))
        if not _read_chunk(text, n, seconds[done:done + n], values[done:done + n]):
            return None
        done += n
    return counts, seconds, values


def _pair_counts(body: bytes, spans: list[tuple[int, int]]) -> np.ndarray:
    """How many "[" each run holds: its pairs, if it is well formed (else the checks fail)."""
    # A vectorised byte compare is ~7x faster than bytes.count; a chunk at a time keeps its
    # temporary small.
    first, last = spans[0][0], spans[-1][1]
    found = [np.flatnonzero(np.frombuffer(body, np.uint8, min(CHUNK_BYTES, last - at), at)
                            == _OPEN) + at for at in range(first, last, CHUNK_BYTES)]
    opens = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    starts, ends = np.array(spans, dtype=np.int64).reshape(-1, 2).T
    return np.searchsorted(opens, ends) - np.searchsorted(opens, starts)


def _chunks(spans: list[tuple[int, int]], counts: np.ndarray, most: int) -> list[list[int]]:
    """The non-empty runs' indexes, grouped into chunks of at most ``most`` bytes (or one run)."""
    chunks, current, size = [], [], 0
    for i in np.flatnonzero(counts).tolist():
        if current and size + spans[i][1] - spans[i][0] > most:
            chunks.append(current)
            current, size = [], 0
        current.append(i)
        size += spans[i][1] - spans[i][0]
    return [*chunks, current] if current else chunks


def _read_chunk(text: bytes, n: int, seconds: np.ndarray, values: np.ndarray) -> bool:
    """Read n lines ``t,"v"`` into ``seconds`` and ``values``; False unless exactly that."""
    specials = _checked_pairs(text, n)
    if specials is None:
        return False
    try:
        table = pd.read_csv(io.BytesIO(text), header=None, names=["t", "v"], engine="c",
                            dtype=np.float64, na_values=["NaN"], keep_default_na=False)
    except (ValueError, pd.errors.ParserError):
        return False
    read = table["v"].to_numpy()
    nans, infs = specials
    if len(table) != n or np.count_nonzero(np.isnan(read)) != nans \
            or np.count_nonzero(np.isinf(read)) != infs:
        return False  # e.g. "1e400" read as inf: let the plain path name it
    seconds[:], values[:] = table["t"].to_numpy(), read
    return True


#: The bytes a values run cut into lines `t,"v"` may hold; any other sends it to the plain path.
_PAIR_BYTES = b'0123456789.,"\n' + b"eE+-NaIfn"
_COMMA, _QUOTE, _NEWLINE, _ZERO, _OPEN = (ord(c) for c in ',"\n0[')
_NAN, _INF = np.frombuffer(b"NaN", np.uint8), np.frombuffer(b"Inf", np.uint8)


def _checked_pairs(text: bytes, n: int) -> tuple[int, int] | None:
    """(NaN count, ±Inf count) when ``text`` is exactly n lines ``digits[.digits],"number"``.

    The value's own grammar is left to the CSV reader (it rejects what Go rejects, bar
    overflow, which the caller checks); here every line's shape is checked with whole-array
    operations, so a corrupt run (an unquoted value, a space, "true", an empty field, a third
    element, a key, a timestamp with a sign or a leading zero) is never read as numbers.
    """
    if text.translate(None, _PAIR_BYTES):
        return None
    raw = np.frombuffer(text, dtype=np.uint8)
    if np.count_nonzero(raw == _COMMA) != n or np.count_nonzero(raw == _NEWLINE) != n - 1:
        return None
    quotes = np.flatnonzero(raw == _QUOTE)
    if len(quotes) != 2 * n:
        return None
    opening, closing = quotes[0::2], quotes[1::2]
    # Each opening quote right after a comma, each closing one right before a newline (or the
    # end): with the counts above those are all the commas and newlines, so every line is
    # exactly `t,"v"` with a non-empty value.
    if not ((raw[opening - 1] == _COMMA).all() and (raw[closing[:-1] + 1] == _NEWLINE).all()
            and closing[-1] == len(raw) - 1 and (closing > opening + 1).all()):
        return None
    commas, starts = opening - 1, np.concatenate(([0], closing[:-1] + 2))
    # The timestamp: non-empty, digits and dots only (a sign, exponent or letter must sit
    # inside quotes), a digit first and last, no leading zero; more than one dot the CSV
    # reader rejects. Past the byte check above, the bytes below "." are newlines, quotes,
    # commas (all counted) and signs, and the letters are those >= "A": most bodies have none.
    letters = np.empty(0, dtype=np.int64)
    if np.count_nonzero(raw < ord(".")) > 4 * n - 1 or np.count_nonzero(raw >= ord("A")):
        inside = np.flatnonzero((raw >= ord("A")) | (raw == ord("+")) | (raw == ord("-")))
        if (np.searchsorted(quotes, inside) % 2 == 0).any():
            return None
        letters = inside[(raw[inside] >= ord("A")) & ((raw[inside] | 0x20) != ord("e"))]
    second = raw[np.minimum(starts + 1, len(raw) - 1)]
    if not (commas > starts).all() or not _digits(raw[starts]) or not _digits(raw[commas - 1]) \
            or ((raw[starts] == _ZERO) & (second >= _ZERO) & (second <= ord("9"))).any():
        return None
    return _special_counts(raw, letters, quotes)


def _digits(chars: np.ndarray) -> bool:
    return bool(((chars >= _ZERO) & (chars <= ord("9"))).all())


def _special_counts(raw: np.ndarray, letters: np.ndarray, quotes: np.ndarray
                    ) -> tuple[int, int] | None:
    """Counts of exact "NaN" and "+Inf"/"-Inf" values; None if a letter is anything else."""
    if not len(letters):
        return 0, 0
    pair = np.unique(np.searchsorted(quotes, letters) // 2)
    start, length = quotes[2 * pair] + 1, quotes[2 * pair + 1] - quotes[2 * pair] - 1
    window = raw[np.minimum(start[:, None] + np.arange(4), len(raw) - 1)]
    nan = (length == 3) & (window[:, :3] == _NAN).all(axis=1)
    inf = (length == 4) & ((window[:, 0] == ord("+")) | (window[:, 0] == ord("-"))) \
        & (window[:, 1:] == _INF).all(axis=1)
    if not (nan | inf).all():
        return None
    return int(nan.sum()), int(inf.sum())


def parse_values(texts: list, upstream: str = "Prometheus") -> np.ndarray:
    """Sample values as Prometheus writes them ("1.5", "NaN", "+Inf", "-Inf") → float64.

    Every text Go's ``strconv.ParseFloat`` reads is accepted as that number; anything else
    ("null", "true", '"7"', "1_000", " 1", a number that is not a string) is ``BadResponse``.
    """
    if not texts:
        return np.empty(0, dtype=np.float64)
    values = _parse_values_fast(texts)
    if values is None:  # not all plain JSON numbers: decide text by text
        values = np.array([go_float(t, "sample value", upstream) for t in texts],
                          dtype=np.float64)
    return values


_NOT_DECIMAL = re.compile(r"[^0-9.eE+\-,]")
_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def _parse_values_fast(texts: list) -> np.ndarray | None:
    # Go writes values as JSON-number text; one orjson pass parses them all exactly, ~4× faster
    # than float() per string. NaN and ±Inf are not JSON: parse those few one by one. None when
    # any text is not a plain decimal (then the caller checks each against Go's grammar).
    if set(map(type, texts)) != {str}:
        return None
    joined = ",".join(texts)
    if joined.count(",") != len(texts) - 1:
        return None
    special = "N" in joined or "I" in joined
    if special:
        joined = joined.replace("NaN", "null").replace("+Inf", "null").replace("-Inf", "null")
    if _NOT_DECIMAL.search(joined.replace("null", "") if special else joined):
        return None
    try:
        values = np.array(orjson.loads(f"[{joined}]"), dtype=np.float64)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if len(values) != len(texts):  # one empty text: "[]" parses as no value at all
        return None
    holes = np.flatnonzero(np.isnan(values))
    if len(holes):
        filled = [_SPECIAL.get(texts[i]) for i in holes]
        if None in filled:
            return None
        values[holes] = filled
    return values


#: The widest span of epoch milliseconds pandas' datetime64[ns] holds (±2262-04-11).
_MAX_MS = (2**63 - 1) // 1_000_000


def utc_timestamps(seconds: np.ndarray, upstream: str = "Prometheus") -> pd.arrays.DatetimeArray:
    """Epoch seconds (millisecond precision on the wire) → datetime64[ns, UTC], exactly.

    A time pandas cannot hold (before 1677 or after 2262, NaN) is ``BadResponse``: cast to
    int64 it would wrap to another date without a word.
    """
    held = np.abs(seconds) < 1e10  # False for NaN; keeps the multiplication below finite
    # In place where it can be: a long body has millions of samples, each temporary 8 bytes.
    ms = np.where(held, seconds, 0.0)
    ms *= 1000
    np.round(ms, out=ms)
    held &= np.abs(ms) <= _MAX_MS
    if not held.all():
        bad = float(seconds[np.argmin(held)])
        raise BadResponse(upstream, f"sample timestamp {bad!r} s is outside the times pandas "
                                    "holds (1677-09-21 to 2262-04-11)")
    ns = ms.astype(np.int64)
    del ms
    ns *= 1_000_000
    return pd.array(ns.view("M8[ns]")).tz_localize("UTC")


def display_name(metric: Mapping[str, str], expr: str | None = None) -> str:
    """A series' name; one without labels is named by its expression (Grafana's convention)."""
    return expr if expr and not metric else series_name(metric)


def unique_names(names: list[str]) -> list[str]:
    """Names made unique with " #2", " #3"… (servers never repeat a series, proxies might)."""
    if len(set(names)) == len(names):
        return names
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def label_columns(metrics: list[Mapping[str, str]], owner: np.ndarray
                  ) -> dict[str, pd.Categorical]:
    """One categorical column per label, ``__name__`` first, from per-series codes."""
    keys = sorted({k for m in metrics for k in m}, key=lambda k: (k != "__name__", k))
    columns = {}
    for key in keys:
        values = [m.get(key) for m in metrics]
        categories = sorted({v for v in values if v is not None})
        index = {v: i for i, v in enumerate(categories)}
        codes = np.array([index.get(v, -1) for v in values], dtype=np.int32)
        column = SHADOWED_PREFIX + key if key in CORE_COLUMNS else key
        columns[column] = pd.Categorical.from_codes(
            codes[owner], categories=pd.Index(categories, dtype=object))
    return columns


def empty_frame() -> pd.DataFrame:
    """The frame of an empty result: the core columns, no rows."""
    return frame_from_result("vector", [])[0]


def notes_of(doc: Mapping, upstream: str) -> list[str]:
    """The body's ``warnings`` and ``infos`` (each absent, null or a list of strings)."""
    notes = []
    for key, prefix in (("warnings", ""), ("infos", "info: ")):
        found = doc.get(key)
        if found is not None:
            notes += [prefix + n for n in strings(found, f"the body's {key}", upstream)]
    return notes


# --- other endpoints --------------------------------------------------------------------------

def labels_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                         ) -> list[str]:
    """``/api/v1/labels`` or ``/api/v1/label/<name>/values`` → the list of strings."""
    data = success_doc(body, upstream)["data"]
    if data is None:
        return []  # VictoriaMetrics answers null when nothing matches
    return list(strings(data, "label data", upstream))


def buildinfo_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                            ) -> dict[str, str]:
    """``/api/v1/status/buildinfo`` → {"version": …, "revision": …} (empty for VictoriaMetrics)."""
    data = success_doc(body, upstream)["data"]
    return dict(label_set(data, "buildinfo", upstream))


HEALTH_QUERY = "vector(1)+vector(1)"


def health_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus") -> bool:
    """Whether the known-answer query ``vector(1)+vector(1)`` came back as exactly 2."""
    frame = frame_from_response(body, upstream=upstream)
    return bool(len(frame) == 1 and frame["value"].iloc[0] == 2)


TARGET_COLUMNS = ("job", "instance", "health", "last_error", "last_scrape", "scrape_url",
                  "scrape_duration")


def targets_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                          ) -> pd.DataFrame:
    """``/api/v1/targets`` → one row per active target, sorted by job and instance."""
    data = need_object(success_doc(body, upstream)["data"], "targets data", upstream)
    if "activeTargets" not in data:
        # An answer without the list is not "no targets": that would read as all clear.
        raise BadResponse(upstream, "targets data has no 'activeTargets'")
    active = need_list(data["activeTargets"], "activeTargets", upstream)
    rows = [_target_row(t, f"target {i}", upstream) for i, t in enumerate(active)]
    frame = pd.DataFrame(rows, columns=list(TARGET_COLUMNS))
    frame["last_scrape"] = utc_times(frame["last_scrape"], upstream)
    frame["scrape_duration"] = frame["scrape_duration"].astype(np.float64)
    return frame.sort_values(["job", "instance"], ignore_index=True)


def _target_row(target: Any, where: str, upstream: str) -> tuple:
    need_object(target, where, upstream)
    labels = label_set(target.get("labels"), f"{where}: labels", upstream)
    pool = optional_str(target, "scrapePool", where, upstream)
    duration = optional_number(target, "lastScrapeDuration", where, upstream)
    return (labels.get("job") or pool or "", labels.get("instance", ""),
            optional_str(target, "health", where, upstream) or "unknown",
            optional_str(target, "lastError", where, upstream) or "",
            optional_str(target, "lastScrape", where, upstream),
            optional_str(target, "scrapeUrl", where, upstream) or "",
            np.nan if duration is None else duration)


#: RFC 3339 as the Go servers write it; pandas' own ISO reader would also take "2024" or "".
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")


def utc_times(texts: Iterable[str | None], upstream: str = "Prometheus") -> pd.Series:
    """RFC 3339 times → datetime64[ns, UTC]; Go's zero time ("0001-01-01…") means never: NaT.

    Anything else (a number, a malformed time, a year pandas cannot hold) is ``BadResponse``.
    """
    cleaned = []
    for text in texts:
        if text is not None and not (type(text) is str and _RFC3339.fullmatch(text)):
            raise wrong(upstream, "a time", text, "an RFC 3339 time")
        cleaned.append(None if text is None or text.startswith("0001-") else text)
    try:
        parsed = pd.to_datetime(pd.Series(cleaned, dtype=object), utc=True, format="ISO8601")
        return parsed.astype(TIMESTAMP_DTYPE)
    except (ValueError, OverflowError) as exc:  # OutOfBoundsDatetime is a ValueError
        raise BadResponse(upstream, f"a time pandas cannot hold (1677 to 2262): {exc}") from None


#: ``label_set`` and ``annotations`` are the whole dicts: the merged alert list keys alerts by
#: their label set and links their ``runbook_url`` / ``dashboard_url`` annotations.
ALERT_COLUMNS = ("alertname", "state", "severity", "active_at", "summary", "labels", "value",
                 "label_set", "annotations")
_STATE_ORDER = {"firing": 0, "pending": 1}


def alerts_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                         ) -> pd.DataFrame:
    """``/api/v1/alerts`` → one row per alert, firing first."""
    data = need_object(success_doc(body, upstream)["data"], "alerts data", upstream)
    if "alerts" not in data:
        # An answer without the list is not "no alerts": that would be a false all-clear.
        raise BadResponse(upstream, "alerts data has no 'alerts'")
    rows = []
    for i, alert in enumerate(need_list(data["alerts"], "alerts", upstream)):
        where = f"alert {i}"
        need_object(alert, where, upstream)
        rows.append(alert_row(alert.get("labels"), alert.get("annotations"),
                              required_str(alert, "state", where, upstream),
                              alert.get("activeAt"), alert.get("value"),
                              upstream=upstream, where=where))
    return alert_frame(rows, upstream=upstream)


def alert_row(labels: Any, annotations: Any, state: str | None, active_at: Any,
              value: Any = None, *, upstream: str = "Prometheus", where: str = "alert") -> tuple:
    """One alert as a row of ``ALERT_COLUMNS``; fields of the wrong type are ``BadResponse``."""
    labels = label_set(labels, f"{where}: labels", upstream)
    annotations = {} if annotations is None else label_set(
        annotations, f"{where}: annotations", upstream)
    if active_at is not None and type(active_at) is not str:
        raise wrong(upstream, f"{where}: activeAt", active_at, "an RFC 3339 time")
    rest = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
    summary = annotations.get("summary") or annotations.get("description") or ""
    number = np.nan if value is None else go_float(value, f"{where}: value", upstream)
    return (labels.get("alertname", ""), state or "unknown", labels.get("severity", ""),
            active_at, summary, series_name(rest), number, dict(labels), dict(annotations))


def alert_frame(rows: list[tuple], columns: Iterable[str] = ALERT_COLUMNS, *,
                upstream: str = "Prometheus") -> pd.DataFrame:
    """Alert rows → frame, firing before pending, then by name."""
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["active_at"] = utc_times(frame["active_at"], upstream)
    frame["value"] = frame["value"].astype(np.float64)
    order = frame["state"].map(_STATE_ORDER).fillna(2)
    return frame.assign(_o=order).sort_values(["_o", "alertname", "active_at"]) \
        .drop(columns="_o").reset_index(drop=True)


#: Prometheus' own series of its alerts: 1 for every evaluation an alert is firing.
ALERTS_FIRING = 'ALERTS{alertstate="firing"}'
HISTORY_COLUMNS = ("alert", "alertname", "start", "end")


def firing_intervals(frame: pd.DataFrame, step: float) -> pd.DataFrame:
    """A range query's long frame of ``ALERTS_FIRING`` → one row per stretch an alert fired:
    alert (name and labels), alertname, start, end (the last sample plus one step). Samples
    more than 1.5 steps apart are two stretches: the alert stopped firing in between."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})
    hidden = {"__name__", "alertstate", "timestamp", "value", "series", "alertname"}
    extra = [c for c in frame.columns if c not in hidden]
    names = frame["alertname"].astype(object) if "alertname" in frame else \
        pd.Series("", index=frame.index, dtype=object)
    alert = names.fillna("") + _label_text(frame, extra)
    ordered = pd.DataFrame({"alert": alert, "alertname": names.fillna(""),
                            "t": frame["timestamp"]}).sort_values(["alert", "t"], kind="stable")
    gap = ordered["t"].diff().dt.total_seconds()
    new = (ordered["alert"] != ordered["alert"].shift()) | (gap > 1.5 * step)
    runs = ordered.assign(run=new.cumsum()).groupby("run", sort=False)
    out = runs.agg(alert=("alert", "first"), alertname=("alertname", "first"),
                   start=("t", "min"), end=("t", "max")).reset_index(drop=True)
    out["end"] = out["end"] + pd.Timedelta(seconds=step)
    return out[list(HISTORY_COLUMNS)]


def _label_text(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    text = pd.Series("", index=frame.index, dtype=object)
    for column in sorted(columns):
        values = frame[column].astype(object)
        present = values.notna()
        text[present] = text[present] + f" {column}=" + values[present].astype(str)
    return text


# --- the datasource ---------------------------------------------------------------------------

Parse = Callable[..., Any]


class Prometheus:
    """Queries a Prometheus-compatible server; every call goes through the cache."""

    def __init__(self, upstream: Upstream, cache: Cache, session: requests.Session | None = None,
                 *, eval_timeout: float | None = None):
        self.upstream = upstream
        self.cache = cache
        self.session = session if session is not None else make_session(upstream)
        # We stop waiting after upstream.timeout; the server stops evaluating a bit earlier so
        # the panel shows the server's own "query timed out …" instead of a bare client timeout.
        self.eval_timeout = eval_timeout or server_timeout(upstream.timeout)

    def query_range(self, query: str, start: float, end: float, step: float,
                    force: bool = False, ttl: float | None = None) -> Result[pd.DataFrame]:
        """A range query as a long frame (align start/end/step with ``timerange.plan``).

        ``ttl`` overrides ``cache_ttl``: a live panel passes ``timerange.live_ttl``, so every
        viewer of its aligned window shares one upstream call per step.
        """
        params = build_range_request(query, start, end, step, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query_range", params,
                          partial(frame_from_response, expr=query), force, ttl)

    def query_buckets(self, query: str, start: float, end: float, step: float,
                      force: bool = False, ttl: float | None = None) -> Result[pd.DataFrame]:
        """A range query of a histogram as a bucket frame (``prom_histograms``)."""
        # prom_histograms builds on this module's framing: imported here, not at the top.
        from datasources.prom_histograms import buckets_from_response

        params = build_range_request(query, start, end, step, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query_range", params,
                          partial(buckets_from_response, expr=query), force, ttl, kind="buckets")

    def query_exemplars(self, query: str, start: float, end: float,
                        ttl: float | None = None) -> Result[pd.DataFrame]:
        """Exemplars of the series ``query`` selects, over a panel's range (needs Prometheus'
        ``--enable-feature=exemplar-storage``; without it the answer is empty)."""
        from datasources.prom_histograms import exemplars_from_response

        params = {"query": query, "start": _num(start), "end": _num(end)}
        return self._call("POST", "/api/v1/query_exemplars", params, exemplars_from_response,
                          ttl=ttl)

    def query(self, query: str, time: float | None = None, force: bool = False,
              ttl: float | None = None) -> Result[pd.DataFrame]:
        """An instant query as a long frame (one row per series).

        ``ttl`` overrides ``cache_ttl``: a live panel's latest point at a ``time`` aligned to
        the scrape interval is current for one interval (``callbacks.latest_point``).
        """
        params = build_instant_request(query, time, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query", params,
                          partial(frame_from_response, expr=query), force, ttl)

    def label_names(self, match: str | None = None) -> Result[list[str]]:
        """Label names, optionally of the series matching ``match``."""
        return self._call("GET", "/api/v1/labels", _match(match), labels_from_response)

    def label_values(self, label: str, match: str | None = None) -> Result[list[str]]:
        """Values of ``label`` (``__name__`` gives metric names), optionally for ``match``."""
        path = f"/api/v1/label/{quote(label, safe='')}/values"
        return self._call("GET", path, _match(match), labels_from_response)

    def targets(self, ttl: float | None = None) -> Result[pd.DataFrame]:
        """Active scrape targets: job, instance, health, last_error, last_scrape, scrape_url."""
        return self._call("GET", "/api/v1/targets", {"state": "active"}, targets_from_response,
                          ttl=ttl)

    def alerts(self, ttl: float | None = None) -> Result[pd.DataFrame]:
        """Firing and pending alerts from the rules Prometheus evaluates."""
        return self._call("GET", "/api/v1/alerts", {}, alerts_from_response, ttl=ttl)

    def alert_history(self, start: float, end: float, step: float,
                      ttl: float | None = None) -> Result[pd.DataFrame]:
        """When each alert fired between ``start`` and ``end`` (``firing_intervals``)."""
        params = build_range_request(ALERTS_FIRING, start, end, step, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query_range", params,
                          lambda body, upstream: firing_intervals(
                              frame_from_response(body, upstream=upstream), step), ttl=ttl)

    def buildinfo(self) -> Result[dict[str, str]]:
        """The server's version, revision and build details."""
        return self._call("GET", "/api/v1/status/buildinfo", {}, buildinfo_from_response)

    def health(self) -> Result[bool]:
        """A known-answer query through the normal path: ``vector(1)+vector(1)`` must be 2."""
        params = build_instant_request(HEALTH_QUERY, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query", params, health_from_response)

    def _call(self, method: str, path: str, params: dict, parse: Parse,
              force: bool = False, ttl: float | None = None, kind: str = "") -> Result:
        # ``kind`` keeps two framings of one request (lines, buckets) apart in the cache.
        key = cache_key("prometheus" + kind, self.upstream.url, path, params)
        timeless = {k: v for k, v in params.items() if k not in ("start", "end", "time")}
        return self.cache.get(key, lambda: self._fetch(method, path, params, parse),
                              ttl=self.upstream.cache_ttl if ttl is None else ttl,
                              upstream=self.upstream.name,
                              force=force, fallback=cache_key("prometheus" + kind,
                                                              self.upstream.url, path, timeless),
                              wait=self.upstream.timeout)

    def _fetch(self, method: str, path: str, params: dict, parse: Parse) -> Any:
        # POST form-encoded: long PromQL does not fit in a URL behind some proxies.
        form = {"data": params} if method == "POST" else {"params": params}
        started = time.perf_counter()
        resp = request(self.session, self.upstream, method, path, read_error=read_error, **form)
        took = time.perf_counter() - started
        # A body quoted in a parse error may echo what we sent: scrub it like an error body.
        with scrubbing(self.upstream):
            value = parse(resp.content, upstream=self.upstream.name)
        if isinstance(value, pd.DataFrame):
            value.attrs["took_s"] = took  # the upstream's time, shown by a panel's Inspect
        return value


def _match(match: str | None) -> dict[str, str]:
    return {"match[]": match} if match else {}

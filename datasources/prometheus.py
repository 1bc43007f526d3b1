"""Prometheus HTTP API (and VictoriaMetrics, which speaks it): build → fetch → frame.

``build_*`` return form parameters, ``Prometheus`` fetches them through the cache layer, and the
``*_from_response`` functions are pure: an upstream body in, a frame (or list, dict) out. Error
bodies raise the error family with the upstream's own words.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
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

def error_words(doc: Mapping) -> tuple[str | None, str]:
    """(errorType, error) of an error body, VictoriaMetrics' boilerplate trimmed."""
    message = str(doc.get("error") or "no error text").strip()
    error_type = doc.get("errorType") or None
    if error_type and str(error_type).isdigit():
        # VictoriaMetrics puts the HTTP status in errorType; the status is kept elsewhere.
        error_type = None
        message = _VM_PREFIX.sub("", message, count=1)
    return error_type, message


def read_error(resp: requests.Response) -> tuple[str | None, str]:
    """Error reader for ``http.request``: the JSON error body, else the plain text."""
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return plain_error(resp)
    if isinstance(doc, dict) and doc.get("status") == "error":
        return error_words(doc)
    return plain_error(resp)


def error_from_body(doc: Mapping, upstream: str = "Prometheus") -> DatasourceError:
    """The family member for a ``"status": "error"`` body seen with HTTP 200."""
    error_type, message = error_words(doc)
    kind = Unreachable if error_type in _UNAVAILABLE_TYPES else QueryError
    return kind(upstream, message, error_type=error_type)


def success_doc(body: bytes | str | Mapping, upstream: str = "Prometheus") -> Mapping:
    """The parsed success body; error, non-JSON and malformed bodies raise."""
    if isinstance(body, Mapping):
        doc = body
    else:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadResponse(upstream, f"not JSON: {_snippet(body)}") from None
    if not isinstance(doc, Mapping):
        raise BadResponse(upstream, f"not a JSON object: {_snippet(body)}")
    if doc.get("status") == "error":
        raise error_from_body(doc, upstream)
    if doc.get("status") != "success" or "data" not in doc:
        raise BadResponse(upstream, f"no \"status\": \"success\" with data: {_snippet(body)}")
    return doc


def _snippet(body: Any) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return repr(text[:120] + ("…" if len(text) > 120 else "")) if text else "empty body"


# --- frames -----------------------------------------------------------------------------------

def frame_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                        ) -> pd.DataFrame:
    """A query body → long frame: timestamp, value, series, one categorical column per label.

    Matrix, vector and scalar results give the same shape; warnings (and infos) of the body
    are in ``frame.attrs["warnings"]``.
    """
    fast = _matrix_fast(body, upstream) if isinstance(body, bytes) else None
    if fast is not None:
        doc, frame, notes = fast
    else:
        doc = success_doc(body, upstream)
        data = doc["data"]
        if not isinstance(data, Mapping):
            raise BadResponse(upstream, f"query data is not an object: {_snippet(data)}")
        frame, notes = frame_from_result(data.get("resultType"), data.get("result"),
                                         upstream=upstream)
    frame.attrs["warnings"] = _notes(doc) + notes
    return frame


def frame_from_result(result_type: str | None, result: Any, *, upstream: str = "Prometheus"
                      ) -> tuple[pd.DataFrame, list[str]]:
    """Frame the ``data.result`` of a query; also returns notes about samples left out."""
    if result_type == "string":
        raise QueryError(upstream, "the query returns a string, not numbers; nothing to chart")
    if result_type == "scalar" and isinstance(result, list):
        return _assemble([{}], *_flatten([[result]], upstream)), []
    if result_type in ("vector", "matrix") and isinstance(result, list):
        return _series_frame(result_type, result, upstream)
    raise BadResponse(upstream, f"unknown result {result_type!r}: {_snippet(result)}")


def _series_frame(result_type: str, result: list, upstream: str
                  ) -> tuple[pd.DataFrame, list[str]]:
    try:
        metrics = [s.get("metric") or {} for s in result]
        if result_type == "vector":
            samples = [[s["value"]] if "value" in s else [] for s in result]
        else:
            samples = [s.get("values") or [] for s in result]
    except (AttributeError, TypeError, KeyError) as exc:
        raise BadResponse(upstream, f"malformed {result_type}: {exc}") from None
    skipped = sum(1 for s in result if "histogram" in s or "histograms" in s)
    notes = [f"{skipped} native-histogram series not shown"] if skipped else []
    return _assemble(metrics, *_flatten(samples, upstream)), notes


def _flatten(samples: list[list], upstream: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    flat = list(chain.from_iterable(chain.from_iterable(samples)))
    if len(flat) != 2 * int(counts.sum()):
        raise BadResponse(upstream, "samples are not [timestamp, \"value\"] pairs")
    try:
        seconds = np.array(flat[0::2], dtype=np.float64)
    except (TypeError, ValueError):
        raise BadResponse(upstream, "sample timestamps are not numbers") from None
    return counts, seconds, parse_values(flat[1::2], upstream)


def _assemble(metrics: list[Mapping], counts: np.ndarray, seconds: np.ndarray,
              values: np.ndarray) -> pd.DataFrame:
    owner = np.repeat(np.arange(len(metrics)), counts)
    names = unique_names([series_name(m) for m in metrics])
    columns = {
        "timestamp": utc_timestamps(seconds),
        "value": values,
        "series": pd.Categorical.from_codes(owner, categories=pd.Index(names, dtype=object)),
        **label_columns(metrics, owner),
    }
    return pd.DataFrame(columns, copy=False)


# A matrix body is mostly [t,"v"] pairs. Parsing it whole makes ~4 Python objects per sample;
# instead the pairs are cut out of the bytes and read as CSV by pandas' C reader (fast_float:
# exact, NaN and ±Inf included), and only the small rest (labels, warnings) goes to orjson.
_VALUES_KEY = b'"values":['


def _matrix_fast(body: bytes, upstream: str) -> tuple[Mapping, pd.DataFrame, list] | None:
    """Frame a compact matrix body without a Python object per sample; None if not one."""
    split = _split_values(body)
    if split is None:
        return None
    skeleton, insides = split
    try:
        doc = orjson.loads(skeleton)
        result = doc["data"]["result"]
        ok = doc.get("status") == "success" and doc["data"].get("resultType") == "matrix"
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    if not ok or not isinstance(result, list) or len(result) != len(insides) or not all(
            isinstance(s, dict) and s.get("values") == [] for s in result):
        return None
    parsed = _read_pairs(insides)
    if parsed is None:
        return None
    metrics = [s.get("metric") or {} for s in result]
    return doc, _assemble(metrics, *parsed), []


def _split_values(body: bytes) -> tuple[bytes, list[bytes]] | None:
    """The body with every "values" array emptied, and each array's inside."""
    parts, insides, pos = [], [], 0
    while (i := body.find(_VALUES_KEY, pos)) >= 0:
        start = i + len(_VALUES_KEY)
        # Values are number strings, so the first "]]" closes the last pair and the array.
        end = start if body[start:start + 1] == b"]" else body.find(b"]]", start) + 1
        if end == 0:
            return None
        parts.append(body[pos:start])
        insides.append(body[start:end])
        pos = end
    if not insides:
        return None
    parts.append(body[pos:])
    return b"".join(parts), insides


def _read_pairs(insides: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Counts, timestamps and values of ``[t,"v"],[t,"v"]`` runs, via one CSV read."""
    counts = np.array([s.count(b"],[") + 1 if s else 0 for s in insides], dtype=np.int64)
    text = b"\n".join(s[1:-1].replace(b"],[", b"\n") for s in insides if s)
    if not text:
        return counts, np.empty(0), np.empty(0)
    try:
        table = pd.read_csv(io.BytesIO(text), header=None, names=["t", "v"], engine="c",
                            dtype=np.float64, na_values=["NaN"], keep_default_na=False)
    except (ValueError, pd.errors.ParserError):
        return None
    if len(table) != counts.sum():
        return None
    return counts, table["t"].to_numpy(), table["v"].to_numpy()


def parse_values(texts: list, upstream: str = "Prometheus") -> np.ndarray:
    """Sample values as Prometheus writes them ("1.5", "NaN", "+Inf", "-Inf") → float64."""
    if not texts:
        return np.empty(0, dtype=np.float64)
    try:
        return _parse_values_fast(texts)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        pass
    try:
        return np.array([float(t) for t in texts], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(t for t in texts if not _is_float(t))
        raise BadResponse(upstream, f"sample value {bad!r} is not a number") from None


def _parse_values_fast(texts: list) -> np.ndarray:
    # Go writes values as JSON-number text; one orjson pass parses them all exactly, ~4× faster
    # than float() per string. NaN and ±Inf are not JSON: parse those few one by one.
    joined = ",".join(texts)
    special = "N" in joined or "I" in joined
    if special:
        joined = joined.replace("NaN", "null").replace("+Inf", "null").replace("-Inf", "null")
    parsed = orjson.loads(f"[{joined}]")
    if len(parsed) != len(texts):
        raise ValueError("a value held a comma")
    values = np.array(parsed, dtype=np.float64)
    if special:
        holes = np.flatnonzero(np.isnan(values))
        values[holes] = [float(texts[i]) for i in holes]
    return values


def _is_float(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def utc_timestamps(seconds: np.ndarray) -> pd.arrays.DatetimeArray:
    """Epoch seconds (millisecond precision on the wire) → datetime64[ns, UTC], exactly."""
    ns = np.round(seconds * 1000).astype(np.int64) * 1_000_000
    return pd.array(ns.view("M8[ns]")).tz_localize("UTC")


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


def _notes(doc: Mapping) -> list[str]:
    warnings = [str(w) for w in doc.get("warnings") or []]
    return warnings + [f"info: {i}" for i in doc.get("infos") or []]


# --- other endpoints --------------------------------------------------------------------------

def labels_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                         ) -> list[str]:
    """``/api/v1/labels`` or ``/api/v1/label/<name>/values`` → the list of strings."""
    data = success_doc(body, upstream)["data"]
    if data is None:
        return []  # VictoriaMetrics answers null when nothing matches
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        raise BadResponse(upstream, f"label data is not a list of strings: {_snippet(data)}")
    return list(data)


def buildinfo_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                            ) -> dict[str, str]:
    """``/api/v1/status/buildinfo`` → {"version": …, "revision": …} (empty for VictoriaMetrics)."""
    data = success_doc(body, upstream)["data"]
    if not isinstance(data, Mapping):
        raise BadResponse(upstream, f"buildinfo is not an object: {_snippet(data)}")
    return {str(k): str(v) for k, v in data.items()}


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
    data = success_doc(body, upstream)["data"]
    try:
        rows = [_target_row(t) for t in data.get("activeTargets") or []]
    except (AttributeError, TypeError) as exc:
        raise BadResponse(upstream, f"malformed targets: {exc}") from None
    frame = pd.DataFrame(rows, columns=list(TARGET_COLUMNS))
    frame["last_scrape"] = utc_times(frame["last_scrape"])
    frame["scrape_duration"] = frame["scrape_duration"].astype(np.float64)
    return frame.sort_values(["job", "instance"], ignore_index=True)


def _target_row(target: Mapping) -> tuple:
    labels = target.get("labels") or {}
    return (labels.get("job") or target.get("scrapePool", ""), labels.get("instance", ""),
            target.get("health") or "unknown", target.get("lastError") or "",
            target.get("lastScrape"), target.get("scrapeUrl", ""),
            float(target.get("lastScrapeDuration") or 0.0))


def utc_times(texts: Iterable[str | None]) -> pd.Series:
    """RFC 3339 times → datetime64[ns, UTC]; Go's zero time ("0001-01-01…") means never: NaT."""
    cleaned = [t if isinstance(t, str) and not t.startswith("0001-") else None for t in texts]
    parsed = pd.to_datetime(pd.Series(cleaned, dtype=object), utc=True, format="ISO8601")
    return parsed.astype(TIMESTAMP_DTYPE)


ALERT_COLUMNS = ("alertname", "state", "severity", "active_at", "summary", "labels", "value")
_STATE_ORDER = {"firing": 0, "pending": 1}


def alerts_from_response(body: bytes | str | Mapping, *, upstream: str = "Prometheus"
                         ) -> pd.DataFrame:
    """``/api/v1/alerts`` → one row per alert, firing first."""
    data = success_doc(body, upstream)["data"]
    try:
        rows = [alert_row(a.get("labels") or {}, a.get("annotations") or {}, a.get("state"),
                          a.get("activeAt"), a.get("value")) for a in data.get("alerts") or []]
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadResponse(upstream, f"malformed alerts: {exc}") from None
    return alert_frame(rows)


def alert_row(labels: Mapping, annotations: Mapping, state: str | None, active_at: str | None,
              value: Any = None) -> tuple:
    """One alert as a row of ``ALERT_COLUMNS``."""
    rest = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
    summary = annotations.get("summary") or annotations.get("description") or ""
    return (labels.get("alertname", ""), state or "unknown", labels.get("severity", ""),
            active_at, summary, series_name(rest), float(value) if value is not None else np.nan)


def alert_frame(rows: list[tuple], columns: Iterable[str] = ALERT_COLUMNS) -> pd.DataFrame:
    """Alert rows → frame, firing before pending, then by name."""
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["active_at"] = utc_times(frame["active_at"])
    frame["value"] = frame["value"].astype(np.float64)
    order = frame["state"].map(_STATE_ORDER).fillna(2)
    return frame.assign(_o=order).sort_values(["_o", "alertname", "active_at"]) \
        .drop(columns="_o").reset_index(drop=True)


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
                    force: bool = False) -> Result[pd.DataFrame]:
        """A range query as a long frame (align start/end/step with ``timerange.plan``)."""
        params = build_range_request(query, start, end, step, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query_range", params, frame_from_response, force)

    def query(self, query: str, time: float | None = None, force: bool = False
              ) -> Result[pd.DataFrame]:
        """An instant query as a long frame (one row per series)."""
        params = build_instant_request(query, time, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query", params, frame_from_response, force)

    def label_names(self, match: str | None = None) -> Result[list[str]]:
        """Label names, optionally of the series matching ``match``."""
        return self._call("GET", "/api/v1/labels", _match(match), labels_from_response)

    def label_values(self, label: str, match: str | None = None) -> Result[list[str]]:
        """Values of ``label`` (``__name__`` gives metric names), optionally for ``match``."""
        path = f"/api/v1/label/{quote(label, safe='')}/values"
        return self._call("GET", path, _match(match), labels_from_response)

    def targets(self) -> Result[pd.DataFrame]:
        """Active scrape targets: job, instance, health, last_error, last_scrape, scrape_url."""
        return self._call("GET", "/api/v1/targets", {"state": "active"}, targets_from_response)

    def alerts(self) -> Result[pd.DataFrame]:
        """Firing and pending alerts from the rules Prometheus evaluates."""
        return self._call("GET", "/api/v1/alerts", {}, alerts_from_response)

    def buildinfo(self) -> Result[dict[str, str]]:
        """The server's version, revision and build details."""
        return self._call("GET", "/api/v1/status/buildinfo", {}, buildinfo_from_response)

    def health(self) -> Result[bool]:
        """A known-answer query through the normal path: ``vector(1)+vector(1)`` must be 2."""
        params = build_instant_request(HEALTH_QUERY, timeout=self.eval_timeout)
        return self._call("POST", "/api/v1/query", params, health_from_response)

    def _call(self, method: str, path: str, params: dict, parse: Parse,
              force: bool = False) -> Result:
        key = cache_key("prometheus", self.upstream.url, path, params)
        timeless = {k: v for k, v in params.items() if k not in ("start", "end", "time")}
        return self.cache.get(key, lambda: self._fetch(method, path, params, parse),
                              ttl=self.upstream.cache_ttl, upstream=self.upstream.name,
                              force=force, fallback=cache_key("prometheus", self.upstream.url,
                                                              path, timeless),
                              wait=self.upstream.timeout)

    def _fetch(self, method: str, path: str, params: dict, parse: Parse) -> Any:
        # POST form-encoded: long PromQL does not fit in a URL behind some proxies.
        form = {"data": params} if method == "POST" else {"params": params}
        resp = request(self.session, self.upstream, method, path, read_error=read_error, **form)
        # A body quoted in a parse error may echo what we sent: scrub it like an error body.
        with scrubbing(self.upstream):
            return parse(resp.content, upstream=self.upstream.name)


def _match(match: str | None) -> dict[str, str]:
    return {"match[]": match} if match else {}

"""Loki: build the request, fetch it (cached), frame the body (``datasources.loki_frame``).

Every call but ``query_range_all`` goes through the cache layer and returns a ``Result``.
Requests carry ``X-Loki-Response-Encoding-Flags: categorize-labels`` so structured metadata
and parsed labels arrive per entry instead of splitting streams; the tenant
(``X-Scope-OrgID``) and credentials are on the session (``datasources.http.make_session``).

Whole-range paging (``Loki.query_range_all``, for export)
----------------------------------------------------------
Loki answers at most ``limit`` entries (capped by the server's
``max_entries_limit_per_query``, 5 000 by default) for ``[start, end)`` — ``start`` inclusive,
``end`` exclusive — and orders entries that share a timestamp by stream hash, not by anything
we can ask for. So a page that comes back full may have cut the instant at its edge anywhere.
The pager therefore:

1. yields every entry of a full page, remembers the entries at the edge instant (as a
   multiset of (timestamp, stream labels, line)) and asks for the next page *from that
   instant again* (forward: ``start = edge``; backward: ``end = edge + 1 ns``);
2. drops, from the next page, the remembered entries at that instant — one for one, so two
   streams logging the same line at the same nanosecond stay two rows (logcli compares only
   timestamp and line and loses one of them), and exact repeats Loki itself returns survive;
3. when a full page holds nothing but the edge instant (a cluster of equal timestamps at least
   a page long), moving the cursor cannot help: it asks for that single nanosecond
   ``[t, t+1)`` with the largest limit the server allows; if that is full too, it lists the
   streams present at ``t`` (``/series``) and asks for the instant once per stream, with a
   selector that names the stream exactly (its labels ``=``, every other label seen ``=""``),
   so each entry is fetched exactly once. Only one stream holding more entries at a single
   nanosecond than the server's limit cannot be split further through the HTTP API; that is
   raised as a ``QueryError`` saying so (raise ``max_entries_limit_per_query`` to export it).

If the server's limit is lower than the page size asked for, Loki's own 400 ("max entries
limit per query exceeded, limit > max_entries_limit_per_query (A > B)") tells the pager B and
it continues with pages of B.

Log volume (``Loki.volume``)
----------------------------
``sum by (level, detected_level) (count_over_time(<the log query> [step]))`` over the whole
range: the query keeps its filters and parsers, so the total is the number of entries the
query matches (the "M" of "showing N of M"). An entry's level is its ``level`` label (a stream
label, structured metadata, or one a parser in the query extracted, e.g. ``| json``), else
the ``detected_level`` Loki 3 adds by itself, else ``unknown``; spellings are folded into
``LEVELS``. ``count_over_time`` counts ``(t - step, t]``, so the samples are asked for at
``start + step … end`` and each is reported at the start of its bucket.

When that answer knows no level at all (streams without a ``level`` label, a Loki without
``detected_level``) and the query has no parser, the table would still read levels from the
JSON lines: so a second query, ``… | json | __error__="" …``, counts the JSON lines by their
``level`` field, and whatever they do not account for in a bucket stays ``unknown`` (the
non-JSON lines). Histogram and table then agree, and the total is still the first query's.

A query whose parser fails on some lines (``| json`` over JSON and NGINX lines) makes Loki
refuse the count ("pipeline error"); the volume then counts the lines it could parse
(``| __error__=""``) and its frame's ``note`` says the others are left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
import requests

from config import Upstream
from datasources.cache import Cache, Result, cache_key
from datasources.errors import BadResponse, QueryError
from datasources.http import make_session, plain_error, request, scrubbing
from datasources.loki_frame import (
    UPSTREAM,
    checked,
    empty_log_frame,
    frame_from_response,
    labels_from_response,
    parse_body,
    series_from_response,
    utc_column,
)
from query.levels import LEVELS, canonical_level
from query.logql import (
    has_parser,
    is_log_query,
    selector_of,
    stream_name,
    volume_query,
    with_stream_matchers,
)
from query.timerange import MAX_POINTS, format_duration

ENCODING_HEADERS = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
#: Loki's default ``max_entries_limit_per_query``.
MAX_ENTRIES = 5000
#: Lines of context asked for on each side of an entry, and how far to look for them.
CONTEXT_LINES = 10
CONTEXT_WINDOW_NS = 3600 * 10**9
#: Loki refuses range queries of more than 11 000 points per series.
DIRECTIONS = ("forward", "backward")
_LIMIT_TEXT = re.compile(r"max_entries_limit_per_query \((\d+) > (\d+)\)")


# --- build --------------------------------------------------------------------------------

def build_query_range(query: str, start_ns: int, end_ns: int, limit: int, direction: str,
                      step: float | None = None) -> dict:
    """Parameters of ``/loki/api/v1/query_range``: times as integer nanoseconds."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'forward' or 'backward', not {direction!r}")
    params = {"query": query, "start": str(int(start_ns)), "end": str(int(end_ns)),
              "limit": str(int(limit)), "direction": direction}
    if step is not None:
        params["step"] = format_duration(step)
    return params


def volume_step(start_ns: int, end_ns: int, step_s: float) -> float:
    """``step_s``, raised so the range stays within Loki's 11 000 points per series."""
    span = (end_ns - start_ns) / 1e9
    return max(float(step_s), span / MAX_POINTS, 0.001)


def time_params(start_ns: int | None, end_ns: int | None) -> dict:
    """``start``/``end`` when given (Loki defaults to the last hour otherwise)."""
    params = {}
    if start_ns is not None:
        params["start"] = str(int(start_ns))
    if end_ns is not None:
        params["end"] = str(int(end_ns))
    return params


def read_error(resp: requests.Response) -> tuple[str | None, str]:
    """Loki's error text: plain text as sent; JSON ``{errorType, error}`` from proxies."""
    if "json" in resp.headers.get("Content-Type", ""):
        try:
            data = parse_body(resp.content)
        except BadResponse:
            return plain_error(resp)
        error, error_type = data.get("error"), data.get("errorType")
        if error and isinstance(error, str):
            return (error_type if isinstance(error_type, str) else None), error
    return plain_error(resp)


# --- frames over frames -------------------------------------------------------------------

def volume_frame(metric: pd.DataFrame, step_s: float) -> pd.DataFrame:
    """Counts by (bucket start, canonical level), levels in ``LEVELS`` order."""
    level = _label(metric, "level")
    detected = _label(metric, "detected_level")
    raw = level.where(level != "", detected)
    frame = pd.DataFrame({
        "timestamp": metric["timestamp"] - pd.Timedelta(seconds=step_s),
        "level": raw.map(canonical_level).astype("str"),
        "value": metric["value"].to_numpy(dtype=np.float64),
    })
    frame = frame.groupby(["timestamp", "level"], as_index=False, sort=False)["value"].sum()
    frame["level"] = pd.Categorical(frame["level"], categories=list(LEVELS))
    frame = frame.sort_values(["timestamp", "level"], kind="stable").reset_index(drop=True)
    frame.attrs.update(step_s=step_s, total=int(frame["value"].sum()))
    return frame


#: What the histogram says when lines the parser failed on are not in it.
PARSED_ONLY_NOTE = "lines the query's parser could not read are not counted (Loki refuses to)"


def is_pipeline_error(error) -> bool:
    """Whether Loki refused a metric query because a parser failed on some lines."""
    return isinstance(error, QueryError) and "pipeline error" in error.message


def needs_json_levels(volume: pd.DataFrame, query: str) -> bool:
    """Whether a volume knows no level at all (no ``level`` label, no ``detected_level``:
    an older Loki) for a query without a parser, whose JSON lines may still carry one."""
    levels = set(volume["level"].astype("str")) if len(volume) else set()
    return levels == {"unknown"} and not has_parser(query)


def with_json_levels(plain: pd.DataFrame, by_json: pd.DataFrame) -> pd.DataFrame:
    """``plain``'s total per bucket, split by the JSON lines' levels (``by_json``); what the
    JSON levels do not account for stays ``unknown``."""
    known = by_json[by_json["level"].astype("str") != "unknown"]
    total = plain.groupby("timestamp")["value"].sum()
    counted = known.groupby("timestamp")["value"].sum().reindex(total.index, fill_value=0)
    rest = (total - counted).clip(lower=0)
    parts = [known[["timestamp", "level", "value"]].astype({"level": "str"}),
             pd.DataFrame({"timestamp": rest.index, "level": "unknown",
                           "value": rest.to_numpy()})]
    merged = pd.concat(parts, ignore_index=True)
    merged = merged[merged["value"] > 0].rename(columns={"timestamp": "bucket"})
    step = plain.attrs.get("step_s", 0)
    frame = volume_frame(pd.DataFrame({
        "timestamp": merged["bucket"] + pd.Timedelta(seconds=step),
        "level": merged["level"], "value": merged["value"]}), step)
    return frame


def volume_from_response(body: bytes | str | Mapping, step_s: float) -> pd.DataFrame:
    """A volume query's body → ``volume_frame``; anything but whole counts is BadResponse."""
    metric = frame_from_response(body)
    kind = metric.attrs.get("result_type")
    if kind != "matrix":
        # count_over_time over a range is a matrix; log lines here would read as no volume.
        raise BadResponse(UPSTREAM, f"the volume query was answered with a {kind} result, "
                                    "not a matrix of counts")
    counts = metric["value"].to_numpy(dtype=np.float64)
    whole = np.isfinite(counts) & (counts >= 0) & (counts <= _MAX_COUNT)
    whole[whole] &= counts[whole] == np.floor(counts[whole])
    if not whole.all():
        raise BadResponse(UPSTREAM, f"a volume count is {float(counts[np.argmin(whole)])!r}, not a "
                                    "whole number of entries")
    if len(metric) and metric["timestamp"].min() < pd.Timestamp.min.tz_localize("UTC") \
            + pd.Timedelta(seconds=step_s):
        raise BadResponse(UPSTREAM, "a volume sample is too early to have a bucket before it")
    return volume_frame(metric, step_s)


#: Counts above 2**53 are no longer exact in float64; no log volume comes near.
_MAX_COUNT = 2.0**53


def log_page(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` when it holds log lines; a log query answered otherwise is BadResponse."""
    kind = frame.attrs.get("result_type")
    if kind != "streams":
        raise BadResponse(UPSTREAM, f"a log query was answered with a {kind} result, not "
                                    "log streams")
    return frame


def _label(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series([""] * len(frame), dtype="str", index=frame.index)
    return frame[name].astype("str").fillna("")


def _edge_keys(page: pd.DataFrame, edge: int) -> Counter:
    """The (labels, line) multiset of a page's rows at timestamp ``edge``."""
    at = page["timestamp"].array.asi8 == edge
    return Counter(zip(page["labels"].to_numpy()[at].tolist(),
                       page["line"].to_numpy()[at].tolist(), strict=True))


def _drop_seen(page: pd.DataFrame, instant: int | None, seen: Counter) -> pd.DataFrame:
    """``page`` without the rows at ``instant`` already yielded (one for one)."""
    if instant is None or not seen:
        return page
    at = np.flatnonzero(page["timestamp"].array.asi8 == instant)
    left = Counter(seen)
    labels, lines = page["labels"].to_numpy(), page["line"].to_numpy()
    drop = []
    for row in at:
        key = (labels[row], lines[row])
        if left[key] > 0:
            left[key] -= 1
            drop.append(row)
    return _keep_attrs(page, page.drop(index=page.index[drop])) if drop else page


def _keep_attrs(source: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.attrs = dict(source.attrs)
    return frame


def _ordered(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """Rows newest first for ``backward`` (frames come sorted oldest first)."""
    if direction == "forward" or len(frame) < 2:
        return frame
    return _keep_attrs(frame, frame.iloc[::-1])


# --- the datasource -------------------------------------------------------------------------

class Loki:
    """Loki over HTTP; every call but ``query_range_all`` goes through ``cache``."""

    def __init__(self, upstream: Upstream, cache: Cache, session: requests.Session | None = None,
                 *, max_entries: int = MAX_ENTRIES):
        self.upstream = upstream
        self.cache = cache
        self.session = session or make_session(upstream)
        self.max_entries = max_entries

    # cached, for the tab

    def query_range(self, query: str, start_ns: int, end_ns: int, *, limit: int = 1000,
                    direction: str = "backward", force: bool = False) -> Result:
        """Up to ``limit`` entries (or metric samples) of ``[start, end)`` as a frame."""
        params = build_query_range(query, start_ns, end_ns, limit, direction)
        return self._cached("loki.query_range", params,
                            lambda: self._range_frame(params, limit, direction), force)

    def volume(self, query: str, start_ns: int, end_ns: int, step_s: float, *,
               force: bool = False) -> Result:
        """Entries per bucket and level over the whole range (see the module docstring)."""
        step = volume_step(start_ns, end_ns, step_s)
        if not is_log_query(query):
            return Result(error=QueryError(UPSTREAM, "a log volume needs a log query "
                                                     "(one that starts with a {selector})"))
        plain = self._volume(volume_query(query, step), start_ns, end_ns, step, force)
        if is_pipeline_error(plain.error):
            return self._parsed_volume(query, start_ns, end_ns, step, force) or plain
        if plain.value is None or not needs_json_levels(plain.value, query):
            return plain
        by_json = self._volume(volume_query(query, step, json_levels=True), start_ns, end_ns,
                               step, force)
        if by_json.value is None:
            return plain  # the total still stands; the levels stay unknown
        return replace(plain, value=with_json_levels(plain.value, by_json.value))

    def _parsed_volume(self, query: str, start_ns: int, end_ns: int, step: float,
                       force: bool) -> Result | None:
        """The volume of the lines the query's parser could read, noted as such; None if
        Loki refuses that too."""
        result = self._volume(volume_query(query, step, parsed_only=True), start_ns, end_ns,
                              step, force)
        if result.value is None:
            return None
        frame = result.value.copy()
        frame.attrs = {**result.value.attrs, "note": PARSED_ONLY_NOTE}
        return replace(result, value=frame)

    def _volume(self, metric_query: str, start_ns: int, end_ns: int, step: float,
                force: bool) -> Result:
        step_ns = round(step * 1e9)
        params = build_query_range(metric_query, start_ns + step_ns,
                                   max(end_ns, start_ns + step_ns), 1, "forward", step=step)
        params.pop("limit")
        params.pop("direction")
        return self._cached("loki.volume", params,
                            lambda: volume_from_response(self._get("/query_range", params),
                                                         step), force)

    def context(self, selector: str, ts_ns: int, *, limit: int = CONTEXT_LINES,
                window_ns: int = CONTEXT_WINDOW_NS) -> tuple[Result, Result]:
        """The lines of one stream around ``ts_ns``, as Grafana's "show context" asks: up to
        ``limit`` before it (backward from ``ts_ns``, exclusive) and up to ``limit`` from it on
        (forward, the entry itself and its same-instant neighbours included), each within
        ``window_ns``."""
        before = self.query_range(selector, max(ts_ns - window_ns, 0), ts_ns, limit=limit,
                                  direction="backward")
        after = self.query_range(selector, ts_ns, ts_ns + window_ns, limit=limit + 1,
                                 direction="forward")
        return before, after

    def label_names(self, start_ns: int | None = None, end_ns: int | None = None, *,
                    force: bool = False) -> Result:
        """Label names seen in the range (the label browser's first column)."""
        params = time_params(start_ns, end_ns)
        return self._cached("loki.labels", params,
                            lambda: labels_from_response(self._get("/labels", params)), force)

    def label_values(self, name: str, start_ns: int | None = None, end_ns: int | None = None,
                     *, query: str | None = None, force: bool = False) -> Result:
        """Values of label ``name`` in the range (optionally only in streams of ``query``)."""
        params = time_params(start_ns, end_ns)
        if query:
            params["query"] = query
        path = f"/label/{requests.utils.quote(name, safe='')}/values"
        return self._cached("loki.label_values", {"name": name, **params},
                            lambda: labels_from_response(self._get(path, params)), force)

    def health(self, *, force: bool = False) -> Result:
        """``/ready`` says ready and the known-answer query ``vector(1)+vector(1)`` gives 2."""
        return self._cached("loki.health", {}, self._check_health, force)

    # uncached, raising

    def fetch_range(self, query: str, start_ns: int, end_ns: int, limit: int,
                    direction: str = "forward") -> pd.DataFrame:
        """One ``query_range`` call, not cached; raises the error family."""
        params = build_query_range(query, start_ns, end_ns, limit, direction)
        with scrubbing(self.upstream):
            return self._range_frame(params, limit, direction)

    def series(self, match: str, start_ns: int, end_ns: int) -> list[dict[str, str]]:
        """Label sets of the streams matching selector ``match`` in the range (not cached)."""
        params = {"match[]": match, **time_params(start_ns, end_ns)}
        with scrubbing(self.upstream):
            return series_from_response(self._get("/series", params))

    def query_range_all(self, query: str, start_ns: int, end_ns: int,
                        direction: str = "forward",
                        page_size: int = MAX_ENTRIES) -> Iterator[pd.DataFrame]:
        """Every entry of ``[start, end)``, page by page, each exactly once (not cached)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'forward' or 'backward', not {direction!r}")
        if not is_log_query(query):
            raise QueryError(UPSTREAM, "only a log query (one that starts with a {selector}) "
                                       "can be paged through")
        return _Pager(self, query, direction, page_size).pages(int(start_ns), int(end_ns))

    # plumbing

    def _get(self, path: str, params: Mapping) -> bytes:
        resp = request(self.session, self.upstream, "GET", "/loki/api/v1" + path,
                       params=params, headers=ENCODING_HEADERS, read_error=read_error)
        return resp.content

    def _frame(self, path: str, params: Mapping) -> pd.DataFrame:
        return frame_from_response(self._get(path, params))

    def _range_frame(self, params: Mapping, limit: int, direction: str) -> pd.DataFrame:
        frame = _ordered(self._frame("/query_range", params), direction)
        if frame.attrs.get("result_type") == "streams":
            frame.attrs.update(limit=limit, truncated=len(frame) >= limit)
        return frame

    def _cached(self, prefix: str, params: Mapping, fetch, force: bool) -> Result:
        key = cache_key(prefix, self.upstream.url, self.upstream.tenant, dict(params))
        # A live view's window moves with the clock: its last good answer is found by the
        # request without its times.
        timeless = {k: v for k, v in params.items() if k not in ("start", "end", "time")}
        fallback = cache_key(prefix, self.upstream.url, self.upstream.tenant, timeless)
        return self.cache.get(key, lambda: self._scrubbed(fetch), ttl=self.upstream.cache_ttl,
                              upstream=UPSTREAM, force=force, fallback=fallback,
                              wait=self.upstream.timeout)

    def _scrubbed(self, fetch):
        # A body quoted in a parse error may echo what we sent: scrub it like an error body.
        with scrubbing(self.upstream):
            return fetch()

    def _check_health(self) -> bool:
        resp = request(self.session, self.upstream, "GET", "/ready", read_error=read_error)
        if resp.text.strip() != "ready":
            raise BadResponse(UPSTREAM, f"/ready answered {resp.text.strip()[:200]!r}")
        body = checked(self._get("/query", {"query": "vector(1)+vector(1)"}))
        frame = frame_from_response(body)
        if len(frame) != 1 or frame["value"].iloc[0] != 2:
            raise BadResponse(UPSTREAM, "vector(1)+vector(1) did not give 2")
        return True


class _Pager:
    """The paging loop of ``Loki.query_range_all`` (see the module docstring)."""

    def __init__(self, loki: Loki, query: str, direction: str, page_size: int):
        self.loki, self.query, self.direction = loki, query, direction
        self.forward = direction == "forward"
        self.page_size = page_size

    def pages(self, lo: int, hi: int) -> Iterator[pd.DataFrame]:
        instant, seen = None, Counter()
        while lo < hi:
            limit = min(self.page_size, self.loki.max_entries)
            page = self._fetch(self.query, lo, hi, limit)
            if page is None:
                continue  # the server's limit was lower; asked again with it
            fresh = _drop_seen(page, instant, seen)
            if len(page) < limit:
                if len(fresh):
                    yield fresh
                return
            ns = page["timestamp"].array.asi8
            edge = int(ns.max() if self.forward else ns.min())
            if bool((ns == edge).all()):
                rest = _drop_seen(self._whole_instant(edge), edge,
                                  seen if instant == edge else Counter())
                if len(rest):
                    yield rest
                instant, seen = None, Counter()
                lo, hi = (edge + 1, hi) if self.forward else (lo, edge)
                continue
            if len(fresh):
                yield fresh
            instant, seen = edge, _edge_keys(page, edge)
            lo, hi = (edge, hi) if self.forward else (lo, edge + 1)

    def _fetch(self, query: str, lo: int, hi: int, limit: int) -> pd.DataFrame | None:
        """One page, or None after learning a lower server limit from Loki's 400."""
        try:
            return log_page(self.loki.fetch_range(query, lo, hi, limit, self.direction))
        except QueryError as exc:
            found = _LIMIT_TEXT.search(exc.message)
            if not found or int(found.group(2)) >= limit:
                raise
            self.loki.max_entries = int(found.group(2))
            return None

    def _whole_instant(self, t: int) -> pd.DataFrame:
        """Every entry at nanosecond ``t``: one query if it fits, else one per stream."""
        while (frame := self._fetch(self.query, t, t + 1, self.loki.max_entries)) is None:
            pass
        if len(frame) < self.loki.max_entries:
            return frame
        streams = self.loki.series(selector_of(self.query), t, t + 1)
        names = {k for labels in streams for k in labels}
        parts = [self._one_stream(labels, names - labels.keys(), t) for labels in streams]
        return _ordered(_concat(parts), self.direction)

    def _one_stream(self, labels: Mapping[str, str], absent: set, t: int) -> pd.DataFrame:
        query = with_stream_matchers(self.query, labels, absent)
        while (frame := self._fetch(query, t, t + 1, self.loki.max_entries)) is None:
            pass
        if len(frame) >= self.loki.max_entries:
            when = utc_column(np.array([t])).iloc[0].isoformat()
            raise QueryError(UPSTREAM, (
                f"stream {stream_name(labels)} has {self.loki.max_entries} or more entries at "
                f"the single instant {when} ({t} ns); Loki returns at most "
                f"{self.loki.max_entries} per query and entries of one stream at one "
                "nanosecond cannot be told apart by the query API; raise "
                "max_entries_limit_per_query on the server to export them"))
        return frame


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Pages of one instant as one frame; column groups merged in first-seen order."""
    parts = [p for p in parts if len(p)] or parts[:1]
    if not parts:
        return empty_log_frame()
    frame = pd.concat(parts, ignore_index=True)
    groups = ("stream_labels", "structured_metadata", "parsed", "fields")
    frame.attrs = {**parts[0].attrs, **{g: list(dict.fromkeys(
        c for p in parts for c in p.attrs.get(g, []))) for g in groups}}
    return frame

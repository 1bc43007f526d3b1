"""A stand-in for Loki's HTTP API: a real HTTP server (stdlib, in a thread) on 127.0.0.1.

It follows Loki's documented HTTP API for what the dashboard uses, with Loki's own words:

- ``GET|POST /loki/api/v1/query_range``: ``limit`` (default 100; above
  ``max_entries_limit_per_query``, 5 000, the 400 "max entries limit per query exceeded, …"),
  ``start``/``end`` as nanoseconds, seconds (≤ 10 digits), float seconds or RFC 3339
  (``start`` inclusive, ``end`` exclusive, default the last hour), ``direction``
  forward/backward (default backward; entries of one instant ordered by stream hash in both
  directions, as Loki's heap iterator does — or shuffled per request with
  ``shuffle_ties=True``), entries grouped into streams by label set;
  ``X-Loki-Response-Encoding-Flags: categorize-labels`` honoured (streams by stream labels,
  ``[ts, line, {"structuredMetadata": …, "parsed": …}]``; without it structured metadata and
  parsed labels are folded into the stream labels). Metric queries answer a matrix.
- ``/loki/api/v1/query``: metric queries answer a vector; log queries the 400 Loki gives.
- ``/loki/api/v1/labels``, ``/label/<name>/values``, ``/series`` (``match[]``), ``/ready``.

The LogQL it understands: selectors with ``= != =~ !~``; line filters ``|= != |~ !~``;
``| json``, ``| logfmt`` (no parameters); label filters ``| name op value``: strings with
``= != =~ !~``, numbers, Go durations (``250ms``) and byte sizes (``20MB``) with
``== = != > >= < <=``, joined left to right by ``and``, ``or``, ``,`` or a space, grouped by
parentheses. As Loki documents, a value that does not convert keeps its line and adds
``__error__="LabelFilterErr"``; a line that already has an ``__error__`` passes numeric filters.
``count_over_time`` / ``rate`` / ``bytes_over_time`` over a log query, wrapped in
``sum``/``count`` with or without ``by (…)``; ``vector(n) + vector(m)``. With
``pipeline_errors=True`` a metric query over entries with an ``__error__`` answers Loki's
"pipeline error" 400 (the tests' double counts them). Parse errors are 400 text/plain worded as
Loki words them ("parse error at line 1, col 6: literal not terminated"); valid LogQL beyond
this subset (``line_format``, ``unwrap``, ``topk``, ``|>`` …) is a 400 naming the construct
("unsupported LogQL (line 1, col 11): the line_format stage is not implemented …"), never a
wrong answer.

Data set: ``LokiAPI.load([(ts_ns, {labels}, line[, {structured metadata}]), …])`` or, for
big synthetic sets, ``load_columns``. ``respond_next`` queues a canned answer (for error
bodies); ``requests`` records what was asked. The tests' fixtures (``tests/loki_fixtures.py``)
and ``bench/logs_export.py`` serve their data sets with it.
"""

from __future__ import annotations

import calendar
import json
import math
import re
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import orjson

DEFAULT_LIMIT = 100
MAX_ENTRIES = 5000
MAX_POINTS = 11_000
TEXT = "text/plain; charset=utf-8"

MAX_ENTRIES_TEXT = ("max entries limit per query exceeded, limit > max_entries_limit_per_query "
                    "({} > {})")
INSTANT_LOG_TEXT = ("log queries are not supported as an instant query type, please change your "
                    "query to a range query type")
EMPTY_MATCHER_TEXT = ('parse error : queries require at least one regexp or equality matcher that '
                      'does not have an empty-compatible value. For instance, app=~".*" does not '
                      'meet this requirement, but app=~".+" will')
#: A metric query over entries the pipeline marked with ``__error__`` (Loki's own wording).
PIPELINE_ERROR_TEXT = (
    "pipeline error: '{kind}' for series: '{series}'.\n"
    "Use a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\n"
    "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"
    "The label filter can also be specified after unwrap. "
    "(e.g | unwrap latency | __error__=\"\" )\n")
END_BEFORE_START_TEXT = "end timestamp must not be before or equal to start time"
STEP_TOO_SMALL_TEXT = ("exceeded maximum resolution of 11,000 points per time series. Try "
                       "increasing the value of the step parameter")


class LokiHTTPError(Exception):
    """An error answer: Loki writes the message as the whole text/plain body."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


class ParseError(LokiHTTPError):
    def __init__(self, message: str, col: int | None):
        where = f"at line 1, col {col}" if col else ""
        super().__init__(f"parse error {where}: {message}" if where else f"parse error : {message}")


class Unsupported(LokiHTTPError):
    """Valid LogQL this stand-in does not implement: a 400 naming it, never a wrong answer."""

    def __init__(self, what: str, col: int | None = None):
        where = f" (line 1, col {col})" if col else ""
        super().__init__(f"unsupported LogQL{where}: {what} is not implemented by stackscope's "
                         "Loki API stand-in (stack/loki_api.py)")


#: Pipeline stages of LogQL this stand-in answers with ``Unsupported``.
UNSUPPORTED_STAGES = ("line_format", "label_format", "unwrap", "pattern", "regexp", "unpack",
                      "decolorize", "drop", "keep", "ip", "distinct")
#: Metric functions and aggregations of LogQL beyond count_over_time, rate, bytes_over_time,
#: sum, count and vector.
UNSUPPORTED_FUNCS = ("bytes_rate", "absent_over_time", "sum_over_time", "avg_over_time",
                     "max_over_time", "min_over_time", "first_over_time", "last_over_time",
                     "stdvar_over_time", "stddev_over_time", "quantile_over_time", "rate_counter",
                     "avg", "min", "max", "stddev", "stdvar", "topk", "bottomk", "sort",
                     "sort_desc", "label_replace", "approx_topk", "absent")


def _regex(text: str) -> re.Pattern:
    try:
        return re.compile(text)
    except re.error as exc:
        raise LokiHTTPError(f"parse error : error parsing regexp: {exc}") from None


# --- LogQL (the subset above) -------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<bytes>\d+(?:\.\d+)?(?:[KMGTPE]i?B|B)(?![A-Za-z0-9_]))
  | (?P<dur>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))*)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<flag>--[a-z][a-z-]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|=|\|~|\|>|!=|!~|!>|=~|==|=|>=|<=|>|<|\||\+|-|\*|/|%|\^)
  | (?P<punct>[{}()\[\],])
  | (?P<str>["`])
""", re.X | re.I)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"'}


@dataclass
class Tok:
    kind: str
    text: str
    col: int


def tokenize(query: str) -> list[Tok]:
    """Tokens with 1-based columns; strings unquoted the way Go's strconv does."""
    toks, i = [], 0
    while i < len(query):
        m = _TOKEN.match(query, i)
        if not m:
            raise ParseError(f"syntax error: unexpected {query[i]!r}", i + 1)
        kind = m.lastgroup
        if kind == "str":
            text, i = _read_string(query, i)
            toks.append(Tok("str", text, m.start() + 1))
            continue
        if kind != "ws":
            toks.append(Tok(kind, m.group(), i + 1))
        i = m.end()
    toks.append(Tok("end", "", len(query) + 1))
    return toks


def _read_string(query: str, start: int) -> tuple[str, int]:
    quote, out, i = query[start], [], start + 1
    while i < len(query):
        ch = query[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and quote == '"':
            nxt = query[i + 1:i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = query[i + 2:i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    out.append(chr(int(digits, 16)))
                    i += 2 + width
                    continue
            raise ParseError("invalid char escape", start + 1)
        if ch == "\n" and quote == '"':
            break
        out.append(ch)
        i += 1
    raise ParseError("literal not terminated", start + 1)


@dataclass
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self):
        if self.op in ("=~", "!~"):
            try:
                self.regex = re.compile(f"(?:{self.value})\\Z", re.S)
            except re.error as exc:
                raise LokiHTTPError(f"parse error : error parsing regexp: {exc}") from None

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = self.regex.match(value) is not None
        return found if self.op == "=~" else not found


#: Go's time.ParseDuration units, in nanoseconds.
_GO_DUR_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
              "h": 3600 * 10**9}
_GO_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_BYTES = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtpe]i?b?|b)?", re.I)
_BYTE_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def go_duration(text: str) -> float:
    """Seconds of a Go duration (``1.5s``, ``1h2m``, ``-250ms``); ValueError if it is not one."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _GO_DUR.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * sum(float(n) * _GO_DUR_NS[u] for n, u in parts) / 1e9


def byte_size(text: str) -> float:
    """Bytes of ``42``, ``20MB``, ``1KiB`` (kB = 1000, KiB = 1024); ValueError if not a size."""
    m = _BYTES.fullmatch(text.strip())
    if not m:
        raise ValueError(f"strconv.ParseFloat: parsing {json.dumps(text)}: invalid syntax")
    unit = (m.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    return float(m.group(1)) * base ** _BYTE_POWER[unit[:1] if unit not in ("b", "") else ""]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"strconv.ParseFloat: parsing {json.dumps(text)}: "
                         "invalid syntax") from None


_CONVERT = {"num": _number, "dur": go_duration, "bytes": byte_size}
_COMPARE = {"==": float.__eq__, "=": float.__eq__, "!=": float.__ne__, ">": float.__gt__,
            ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}


@dataclass
class NumericFilter:
    """``name > 1000``, ``latency >= 250ms``, ``size < 20MB``: compares the converted value.

    As Loki documents: a line whose value does not convert is kept and gets
    ``__error__="LabelFilterErr"``; a line that already has an ``__error__`` is kept (only a
    string filter can drop it); a line without the label is dropped.
    """

    name: str
    op: str
    kind: str       # num | dur | bytes
    value: float

    def keep(self, labels: dict) -> bool:
        if labels.get("__error__"):
            return True
        if self.name not in labels:
            return False
        try:
            found = float(_CONVERT[self.kind](labels[self.name]))
        except ValueError as exc:
            labels["__error__"], labels["__error_details__"] = "LabelFilterErr", str(exc)
            return True
        return _COMPARE[self.op](found, self.value)


@dataclass
class StringFilter:
    """``name = "x"`` (and ``!=``, ``=~``, ``!~``); a missing label reads as ``""``."""

    matcher: Matcher

    def keep(self, labels: dict) -> bool:
        return self.matcher.matches(labels.get(self.matcher.name, ""))


@dataclass
class BoolFilter:
    """``left and right`` / ``left or right``: both sides run (both may set ``__error__``)."""

    op: str
    left: object
    right: object

    def keep(self, labels: dict) -> bool:
        a, b = self.left.keep(labels), self.right.keep(labels)
        return (a and b) if self.op == "and" else (a or b)


@dataclass
class LogQuery:
    matchers: list[Matcher]
    stages: list[tuple] = field(default_factory=list)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)


@dataclass
class MetricQuery:
    func: str                   # count_over_time | rate | bytes_over_time | vector
    log: LogQuery | None
    range_ns: int
    agg: str | None = None      # sum | count
    by: tuple[str, ...] | None = None
    constant: float = 0.0


class Parser:
    """Recursive descent over ``tokenize`` output."""

    def __init__(self, query: str):
        self.toks = tokenize(query)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None, text: str | None = None) -> Tok:
        tok = self.toks[self.i]
        if (kind and tok.kind != kind) or (text is not None and tok.text != text):
            shown = "$end" if tok.kind == "end" else tok.text
            raise ParseError(f"syntax error: unexpected {shown}", tok.col)
        self.i += 1
        return tok

    def parse(self) -> LogQuery | MetricQuery:
        expr = self.log_query() if self.peek().text == "{" else self.metric()
        self.take("end")
        return expr

    def log_query(self) -> LogQuery:
        self.take("punct", "{")
        matchers = []
        while self.peek().text != "}":
            name = self.take("ident").text
            op = self.take("op")
            if op.text not in ("=", "!=", "=~", "!~"):
                raise ParseError(f"syntax error: unexpected {op.text}", op.col)
            matchers.append(Matcher(name, op.text, self.take("str").text))
            if self.peek().text == ",":
                self.take()
        self.take("punct", "}")
        if not any(not m.matches("") for m in matchers):
            raise LokiHTTPError(EMPTY_MATCHER_TEXT)
        query = LogQuery(matchers)
        while self.peek().kind == "op" and self.peek().text in ("|=", "!=", "|~", "!~", "|",
                                                                "|>", "!>"):
            query.stages.append(self.stage())
        return query

    def stage(self) -> tuple:
        op_tok = self.take("op")
        op = op_tok.text
        if op in ("|>", "!>"):
            raise Unsupported(f"the pattern line filter {op}", op_tok.col)
        if op != "|":
            text = self.take("str").text
            if self.peek().text == "or":
                raise Unsupported("'or' between line filters", self.peek().col)
            return ("line", op, _regex(text) if op in ("|~", "!~") else text)
        name = self.peek()
        if name.kind == "ident" and name.text in ("json", "logfmt"):
            self.take()
            nxt = self.peek()
            if nxt.kind in ("ident", "flag", "str"):
                raise Unsupported(f"{name.text} with parameters or flags", nxt.col)
            return (name.text,)
        if name.kind == "ident" and name.text in UNSUPPORTED_STAGES:
            raise Unsupported(f"the {name.text} stage", name.col)
        return ("filter", self.label_filter())

    def label_filter(self):
        """Predicates joined left to right by ``and``/``or``/``,``/a space; parentheses group."""
        expr = self.predicate()
        while True:
            tok = self.peek()
            if tok.text in ("and", "or", ","):
                self.take()
                expr = BoolFilter("or" if tok.text == "or" else "and", expr, self.predicate())
            elif tok.kind == "ident" or tok.text == "(":
                expr = BoolFilter("and", expr, self.predicate())
            else:
                return expr

    def predicate(self):
        if self.peek().text == "(":
            self.take()
            expr = self.label_filter()
            self.take("punct", ")")
            return expr
        name = self.take("ident").text
        op_tok = self.take("op")
        op, value = op_tok.text, self.peek()
        if op not in _COMPARE and op not in ("=~", "!~"):
            raise ParseError(f"syntax error: unexpected {op}", op_tok.col)
        if value.kind == "ident":
            raise Unsupported(f"the label filter value {value.text}(…)", value.col)
        if value.kind == "str" and op not in (">", ">=", "<", "<="):
            self.take()
            return StringFilter(Matcher(name, "=" if op == "==" else op, value.text))
        if value.kind in _CONVERT and op not in ("=~", "!~"):
            self.take()
            literal = value.text
            number = (parse_duration(literal) / 1e9 if value.kind == "dur" else
                      byte_size(literal) if value.kind == "bytes" else float(literal))
            return NumericFilter(name, op, value.kind, number)
        shown = "$end" if value.kind == "end" else value.text
        raise ParseError(f"syntax error: unexpected {shown}", value.col)

    def metric(self) -> MetricQuery:
        name = self.take("ident")
        if name.text in ("sum", "count"):
            if self.peek().text == "without":
                raise Unsupported(f"{name.text} without (…)", self.peek().col)
            by = self.by_clause()
            self.take("punct", "(")
            inner = self.metric()
            self.take("punct", ")")
            by = by if by is not None else self.by_clause()
            inner.agg, inner.by = name.text, by
            return inner
        if name.text == "vector":
            self.take("punct", "(")
            value = float(self.take("num").text)
            self.take("punct", ")")
            if self.peek().text == "+":
                self.take()
                value += self.metric().constant
            return MetricQuery("vector", None, 0, constant=value)
        if name.text in UNSUPPORTED_FUNCS:
            raise Unsupported(f"the function {name.text}", name.col)
        if name.text not in ("count_over_time", "rate", "bytes_over_time"):
            raise ParseError(f"syntax error: unexpected IDENTIFIER {name.text}", name.col)
        self.take("punct", "(")
        log = self.log_query()
        self.take("punct", "[")
        range_ns = parse_duration(self.take("dur").text)
        self.take("punct", "]")
        if self.peek().text == "offset":
            raise Unsupported("offset", self.peek().col)
        self.take("punct", ")")
        return MetricQuery(name.text, log, range_ns)

    def by_clause(self) -> tuple[str, ...] | None:
        if self.peek().text != "by":
            return None
        self.take()
        self.take("punct", "(")
        names = []
        while self.peek().text != ")":
            names.append(self.take("ident").text)
            if self.peek().text == ",":
                self.take()
        self.take("punct", ")")
        return tuple(names)


_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_DUR_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
           "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9, "y": 365 * 86400 * 10**9}


def parse_duration(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``500ms``) in nanoseconds."""
    return sum(int(float(n) * _DUR_NS[u]) for n, u in _DUR_PART.findall(text))


def parse_query(query: str) -> LogQuery | MetricQuery:
    """Parse ``query`` or raise ``LokiHTTPError`` worded as Loki does."""
    if not query.strip():
        raise ParseError("syntax error: unexpected $end", len(query) + 1)
    return Parser(query).parse()


# --- request parameters (pkg/loghttp/params.go) -----------------------------------------------

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                      r"(Z|z|[+-]\d\d:\d\d)\Z")


def parse_time(value: str | None, default: int) -> int:
    """Loki's parseTimestamp: float seconds, ≤10-digit seconds, nanoseconds or RFC 3339."""
    if not value:
        return default
    if "." in value:
        try:
            seconds = float(value)
            whole, frac = math.floor(seconds), seconds - math.floor(seconds)
            return whole * 10**9 + int(round(frac * 1000) / 1000 * 10**9)
        except ValueError:
            pass
    if re.fullmatch(r"[+-]?\d+", value):
        number = int(value)
        return number * 10**9 if len(value) <= 10 else number
    m = _RFC3339.match(value)
    if not m:
        raise LokiHTTPError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    y, mo, d, h, mi, s, frac, tz = m.groups()
    seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s)))
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        seconds -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return seconds * 10**9 + int((frac or "0").ljust(9, "0"))


def parse_step(value: str | None, start: int, end: int) -> int:
    """``step`` as float seconds or a duration; default max(1 s, range / 250)."""
    if not value:
        return max(math.floor((end - start) / 1e9 / 250), 1) * 10**9
    try:
        return int(float(value) * 1e9)
    except ValueError:
        ns = parse_duration(value)
        if ns <= 0 and not _DUR_PART.fullmatch(value):
            raise LokiHTTPError(f'cannot parse "{value}" to a valid duration') from None
        return ns


def parse_limit(value: str | None) -> int:
    if not value:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise LokiHTTPError(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    if limit <= 0:
        raise LokiHTTPError("limit must be a positive value")
    return limit


def parse_direction(value: str | None) -> str:
    if not value:
        return "backward"
    if value.upper() not in ("FORWARD", "BACKWARD"):
        raise LokiHTTPError(f"invalid direction '{value}'")
    return value.lower()


# --- the data set --------------------------------------------------------------------------

def stream_key(labels: Mapping[str, str]) -> str:
    """Loki's label string ``{a="x", b="y"}``."""
    return "{" + ", ".join(f'{k}={json.dumps(v, ensure_ascii=False)}'
                           for k, v in sorted(labels.items())) + "}"


class DataSet:
    """Entries in forward order (time, then stream hash), plus the backward permutation."""

    def __init__(self, ts, sid, streams, lines, metadata=None):
        self.streams = [dict(s) for s in streams]
        hashes = np.array([zlib.crc32(stream_key(s).encode()) for s in self.streams],
                          dtype=np.int64)
        ts, sid = np.asarray(ts, dtype=np.int64), np.asarray(sid, dtype=np.int64)
        arrival = np.arange(len(ts))
        order = np.lexsort((arrival, hashes[sid] if len(sid) else sid, ts))
        self.ts, self.sid = ts[order], sid[order]
        self.lines = [lines[i] for i in order]
        self.metadata = [metadata[i] for i in order] if metadata is not None else None
        hsid = hashes[self.sid] if len(self.sid) else self.sid
        self.backward = np.lexsort((-np.arange(len(self.ts)), hsid, -self.ts))
        self.neg_backward_ts = -self.ts[self.backward]

    def __len__(self) -> int:
        return len(self.ts)

    def extended(self, entries: list[tuple]) -> DataSet:
        """A new DataSet with ``(ts_ns, labels, line)`` entries added (this one is unchanged).

        Entries all newer than the newest held are appended in O(new); others re-sort all.
        """
        if not entries:
            return self
        keys = {stream_key(s): i for i, s in enumerate(self.streams)}
        streams = list(self.streams)
        sid = []
        for entry in entries:
            key = stream_key(entry[1])
            if key not in keys:
                keys[key] = len(streams)
                streams.append(dict(entry[1]))
            sid.append(keys[key])
        ts = [int(e[0]) for e in entries]
        lines = [e[2] for e in entries]
        if self.metadata is not None or (len(self.ts) and min(ts) <= int(self.ts[-1])):
            meta = None if self.metadata is None else self.metadata + [None] * len(entries)
            return DataSet(np.concatenate([self.ts, ts]), np.concatenate([self.sid, sid]),
                           streams, self.lines + lines, meta)
        tail = DataSet(ts, sid, streams, lines)
        return self._joined(tail)

    def _joined(self, tail: DataSet) -> DataSet:
        joined = object.__new__(DataSet)
        n = len(self.ts)
        joined.streams, joined.metadata = tail.streams, None
        joined.ts = np.concatenate([self.ts, tail.ts])
        joined.sid = np.concatenate([self.sid, tail.sid])
        joined.lines = self.lines + tail.lines
        joined.backward = np.concatenate([tail.backward + n, self.backward])
        joined.neg_backward_ts = np.concatenate([tail.neg_backward_ts, self.neg_backward_ts])
        return joined

    def after(self, cutoff: int) -> DataSet:
        """A new DataSet without the entries at or before ``cutoff`` (ns)."""
        keep = int(np.searchsorted(self.ts, cutoff, side="right"))
        if keep == 0:
            return self
        meta = None if self.metadata is None else self.metadata[keep:]
        return DataSet(self.ts[keep:], self.sid[keep:], self.streams, self.lines[keep:], meta)

    def positions(self, start: int, end: int, direction: str,
                  shuffle: np.random.Generator | None = None) -> np.ndarray:
        """Storage indices of entries in ``[start, end)``, in query order.

        With ``shuffle``, entries sharing a timestamp come in a random order (Loki promises
        no order among them; a pager must not rely on one).
        """
        if direction == "forward":
            lo, hi = np.searchsorted(self.ts, [start, end], side="left")
            found = np.arange(lo, hi)
        else:
            lo, hi = np.searchsorted(self.neg_backward_ts, [-end, -start], side="right")
            found = self.backward[lo:hi]
        if shuffle is None or len(found) < 2:
            return found
        ts = self.ts[found] if direction == "forward" else -self.ts[found]
        return found[np.lexsort((shuffle.random(len(found)), ts))]

    def streams_in(self, start: int, end: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.ts, [start, end], side="left")
        return np.unique(self.sid[lo:hi])


def from_entries(entries: Iterable) -> DataSet:
    """``(ts_ns, labels, line[, structured_metadata])`` tuples → a DataSet."""
    index: dict[str, int] = {}
    streams, ts, sid, lines, metadata = [], [], [], [], []
    for entry in entries:
        t, labels, line = entry[0], entry[1], entry[2]
        key = stream_key(labels)
        if key not in index:
            index[key] = len(streams)
            streams.append(labels)
        ts.append(int(t))
        sid.append(index[key])
        lines.append(line)
        metadata.append(dict(entry[3]) if len(entry) > 3 and entry[3] else None)
    has_meta = any(m for m in metadata)
    return DataSet(ts, sid, streams, lines, metadata if has_meta else None)


# --- evaluating queries ------------------------------------------------------------------------

_NAMES: dict[str, str] = {}


def _label_name(key: str) -> str:
    """A parsed key as a label name (``a.b`` → ``a_b``), memoised: keys repeat line after line."""
    name = _NAMES.get(key)
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_]", "_", key)
        if len(_NAMES) < 10_000:
            _NAMES[key] = name
    return name


def _flatten_json(obj, prefix="", accept: frozenset[str] | None = None) -> dict[str, str]:
    """Loki's ``| json`` labels of a decoded line; with ``accept``, only those names."""
    out = {}
    for key, value in obj.items():
        name = _label_name(prefix + key)
        kind = type(value)
        if accept is not None and kind is not dict and name not in accept:
            continue
        if kind is str:
            out[name] = value
        elif kind is dict:
            out.update(_flatten_json(value, name + "_", accept))
        elif kind is list:
            continue
        elif kind is bool:
            out[name] = "true" if value else "false"
        elif value is None:
            out[name] = ""
        else:
            out[name] = repr(value)  # as json.dumps writes ints and floats
    return out


_LOGFMT = re.compile(r'([A-Za-z_][A-Za-z0-9_.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def _logfmt(line: str) -> dict[str, str]:
    out = {}
    for key, value in _LOGFMT.findall(line):
        out[re.sub(r"[^A-Za-z0-9_]", "_", key)] = (
            json.loads(value) if value.startswith('"') else value)
    return out


def run_pipeline(stages, line: str, labels: Mapping[str, str], sm: Mapping | None,
                 wanted: frozenset[str] | None = None):
    """None if the entry is filtered out, else the parsed labels it gained (``__error__`` too).

    ``wanted``: keep only these parsed labels (what a metric query's filters and ``by`` read).
    """
    parsed: dict[str, str] = {}
    for stage in stages:
        kind = stage[0]
        if kind == "line":
            op, arg = stage[1], stage[2]
            hit = (arg in line) if op in ("|=", "!=") else (arg.search(line) is not None)
            if hit != (op in ("|=", "|~")):
                return None
        elif kind in ("json", "logfmt"):
            _parse_into(parsed, kind, line, labels, wanted)
        else:
            view = {**labels, **(sm or {}), **parsed}
            if not stage[1].keep(view):
                return None
            for key in ("__error__", "__error_details__"):
                if view.get(key):
                    parsed[key] = view[key]
    return parsed


def _parse_into(parsed: dict, kind: str, line: str, labels: Mapping[str, str],
                wanted: frozenset[str] | None) -> None:
    try:
        accept = None if wanted is None else wanted | {
            n.removesuffix("_extracted") for n in wanted}
        found = (_flatten_json(orjson.loads(line), accept=accept) if kind == "json"
                 else _logfmt(line))
        if kind == "json" and not isinstance(found, dict):
            raise ValueError
    except (ValueError, AttributeError):
        parsed["__error__"] = "JSONParserErr" if kind == "json" else "LogfmtParserErr"
        return
    for key, value in found.items():
        name = key + "_extracted" if key in labels else key
        if wanted is None or name in wanted:
            parsed.setdefault(name, value)


def stream_stages(query: LogQuery, labels: Mapping[str, str], has_metadata: bool):
    """The stages a stream's entries must run, or None when the stream cannot match.

    A parser never overwrites a stream label (it adds ``<name>_extracted``), so a string
    filter on one is decided by the stream alone: such a stream is ruled out, or the filter
    dropped from its stages (with no stage left, its entries are not parsed at all).
    """
    if not query.selects(labels):
        return None
    if has_metadata:  # structured metadata could shadow a stream label
        return list(query.stages)
    stages = []
    for stage in query.stages:
        if stage[0] == "filter" and isinstance(stage[1], StringFilter) and (
                stage[1].matcher.name in labels):
            if not stage[1].keep(dict(labels)):
                return None
        else:
            stages.append(stage)
    return stages


def filter_names(stages) -> set[str]:
    """Every label name the filters among ``stages`` read."""
    names: set[str] = set()

    def walk(flt):
        if isinstance(flt, BoolFilter):
            walk(flt.left)
            walk(flt.right)
        else:
            names.add(flt.matcher.name if isinstance(flt, StringFilter) else flt.name)

    for stage in stages:
        if stage[0] == "filter":
            walk(stage[1])
    return names


@dataclass
class Hit:
    pos: int
    parsed: dict


def select(data: DataSet, query: LogQuery, start: int, end: int, direction: str,
           limit: int | None, shuffle: np.random.Generator | None = None,
           wanted: frozenset[str] | None = None) -> list[Hit]:
    """The first ``limit`` matching entries of ``[start, end)`` in query order."""
    positions = data.positions(start, end, direction, shuffle)
    stages = [stream_stages(query, s, data.metadata is not None) for s in data.streams]
    allowed = np.array([st is not None for st in stages], dtype=bool)
    if len(positions) and len(allowed):
        positions = positions[allowed[data.sid[positions]]]
    if not any(stages):
        chosen = positions if limit is None else positions[:limit]
        return [Hit(int(p), {}) for p in chosen]
    hits = []
    for p in positions:
        p = int(p)
        sm = data.metadata[p] if data.metadata else None
        sid = data.sid[p]
        parsed = run_pipeline(stages[sid], data.lines[p], data.streams[sid], sm, wanted) if (
            stages[sid]) else {}
        if parsed is not None:
            hits.append(Hit(p, parsed))
            if limit is not None and len(hits) >= limit:
                break
    return hits


def streams_body(data: DataSet, hits: list[Hit], categorize: bool) -> dict:
    """The ``streams`` result: entries grouped by stream in query order."""
    groups: dict = {}
    for hit in hits:
        labels = data.streams[data.sid[hit.pos]]
        sm = data.metadata[hit.pos] if data.metadata else None
        ts, line = str(int(data.ts[hit.pos])), data.lines[hit.pos]
        if categorize:
            key, stream = int(data.sid[hit.pos]), labels
            extra = {}
            if sm:
                extra["structuredMetadata"] = sm
            if hit.parsed:
                extra["parsed"] = hit.parsed
            value = [ts, line, extra]
        else:
            stream = {**labels, **(sm or {}), **hit.parsed}
            key, value = stream_key(stream), [ts, line]
        groups.setdefault(key, (stream, []))[1].append(value)
    data_out = {"resultType": "streams",
                "result": [{"stream": s, "values": v} for s, v in groups.values()],
                "stats": {"summary": {"totalEntriesReturned": len(hits)}}}
    if categorize:
        data_out["encodingFlags"] = ["categorize-labels"]
    return data_out


def metric_samples(data: DataSet, query: MetricQuery, times: list[int], *,
                   strict: bool = False) -> list[dict]:
    """One series per group: ``[[seconds, "value"], …]`` at ``times`` (ns), empty ones left out.

    ``strict``: an entry the pipeline marked with ``__error__`` fails the query with Loki's
    "pipeline error" 400, as Loki does; otherwise it is counted.
    """
    if query.func == "vector":
        return [{"metric": {}, "values": [[t / 1e9, _num(query.constant)] for t in times]}]
    lo, hi = times[0] - query.range_ns, times[-1] + 1
    # Aggregated by named labels, only those (and what filters read) need parsing out.
    wanted = (frozenset({*query.by, *filter_names(query.log.stages)})
              if query.agg and query.by is not None else None)
    hits = select(data, query.log, lo + 1, hi, "forward", None, wanted=wanted)
    groups: dict = {}
    sizes = query.func == "bytes_over_time"
    for hit in hits:
        labels = {**data.streams[data.sid[hit.pos]],
                  **((data.metadata[hit.pos] or {}) if data.metadata else {}), **hit.parsed}
        if strict and labels.get("__error__"):
            raise pipeline_error(data, query.log, hit.pos)
        if query.agg:
            labels = {k: labels[k] for k in (query.by or ()) if labels.get(k)}
        key = tuple(sorted(labels.items()))
        group = groups.setdefault(key, (labels, [], []))
        group[1].append(int(data.ts[hit.pos]))
        group[2].append(len(data.lines[hit.pos].encode()) if sizes else 0)
    series = []
    for labels, ts, sizes in groups.values():
        values = _window_values(query, np.array(ts), np.array(sizes), times)
        if values:
            series.append({"metric": labels, "values": values})
    return series


def pipeline_error(data: DataSet, query: LogQuery, pos: int) -> LokiHTTPError:
    """Loki's "pipeline error" naming the entry's whole label set."""
    sm = data.metadata[pos] if data.metadata else None
    labels = data.streams[data.sid[pos]]
    parsed = run_pipeline(query.stages, data.lines[pos], labels, sm) or {}
    full = {**labels, **(sm or {}), **parsed}
    return LokiHTTPError(PIPELINE_ERROR_TEXT.format(kind=full.get("__error__", ""),
                                                    series=stream_key(full)))


def _window_values(query: MetricQuery, ts: np.ndarray, sizes: np.ndarray, times) -> list:
    # count_over_time at t counts (t - range, t]; no entries → no sample.
    t = np.array(times, dtype=np.int64)
    right = np.searchsorted(ts, t, side="right")
    left = np.searchsorted(ts, t - query.range_ns, side="right")
    counts = right - left
    if query.func == "bytes_over_time":
        cumulative = np.concatenate([[0], np.cumsum(sizes)])
        counts = cumulative[right] - cumulative[left]
    rate = query.func == "rate"
    return [[round(tt / 1e6) / 1e3, _num(c / (query.range_ns / 1e9) if rate else c)]
            for tt, c, n in zip(times, counts, right - left, strict=True) if n > 0]


def _num(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# --- the server ------------------------------------------------------------------------------

@dataclass
class Canned:
    status: int
    body: bytes
    content_type: str
    path: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client stopped waiting (its timeout): nothing to report
        super().handle_error(request, client_address)


class LokiAPI:
    """The server; ``url`` once started. Thread-safe enough for one client at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 max_entries: int = MAX_ENTRIES, now=time.time, shuffle_ties: bool = False,
                 seed: int = 0, pipeline_errors: bool = False):
        self.max_entries, self.pipeline_errors = max_entries, pipeline_errors
        self.shuffle = np.random.default_rng(seed) if shuffle_ties else None
        self.now = now
        self.warnings: list[str] = []
        self.requests: list[dict] = []
        self.data = DataSet([], [], [], [])
        self._canned: list[Canned] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="loki-api")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LokiAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LokiAPI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def load(self, entries: Iterable) -> LokiAPI:
        """Replace the data set with ``(ts_ns, labels, line[, structured_metadata])`` tuples."""
        self.data = from_entries(entries)
        return self

    def load_columns(self, ts, sid, streams, lines, metadata=None) -> LokiAPI:
        """Replace the data set from columns (big synthetic sets)."""
        self.data = DataSet(ts, sid, streams, lines, metadata)
        return self

    def respond_next(self, status: int, body: str | bytes, content_type: str = TEXT,
                     path: str | None = None) -> None:
        """Answer the next request (to ``path`` if given) with this, once."""
        body = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._canned.append(Canned(status, body, content_type, path))

    def take_canned(self, path: str) -> Canned | None:
        with self._lock:
            for i, canned in enumerate(self._canned):
                if canned.path is None or canned.path == path:
                    return self._canned.pop(i)
        return None

    # endpoints: each returns a JSON-able dict or raises LokiHTTPError

    def query_range(self, params: dict, categorize: bool) -> dict:
        now = int(self.now() * 1e9)
        start = parse_time(params.get("start"), now - 3600 * 10**9)
        end = parse_time(params.get("end"), now)
        if end < start:
            raise LokiHTTPError(END_BEFORE_START_TEXT)
        limit = parse_limit(params.get("limit"))
        direction = parse_direction(params.get("direction"))
        step = parse_step(params.get("step"), start, end)
        if step <= 0:
            raise LokiHTTPError("zero or negative query resolution step widths are not "
                                "accepted. Try a positive integer")
        if (end - start) // step > MAX_POINTS:
            raise LokiHTTPError(STEP_TOO_SMALL_TEXT)
        query = parse_query(params.get("query", ""))
        data = self.data  # one snapshot per request: a live feed may swap in a new one
        if isinstance(query, MetricQuery):
            times = list(range(start, end + 1, step))
            return {"resultType": "matrix", "result": metric_samples(data, query, times,
                                                                    strict=self.pipeline_errors)}
        if limit > self.max_entries:
            raise LokiHTTPError(MAX_ENTRIES_TEXT.format(limit, self.max_entries))
        hits = select(data, query, start, end, direction, limit, self.shuffle)
        return streams_body(data, hits, categorize)

    def query(self, params: dict) -> dict:
        at = parse_time(params.get("time"), int(self.now() * 1e9))
        query = parse_query(params.get("query", ""))
        if isinstance(query, LogQuery):
            raise LokiHTTPError(INSTANT_LOG_TEXT)
        series = metric_samples(self.data, query, [at], strict=self.pipeline_errors)
        return {"resultType": "vector",
                "result": [{"metric": s["metric"], "value": s["values"][0]} for s in series]}

    def labels(self, params: dict, name: str | None = None) -> list[str]:
        streams = self._streams_in(params, [params["query"]] if params.get("query") else [])
        if name is None:
            return sorted({k for s in streams for k in s})
        return sorted({s[name] for s in streams if name in s})

    def series(self, params: dict, matches: list[str]) -> list[dict]:
        return self._streams_in(params, matches)

    def _streams_in(self, params: dict, selectors: list[str]) -> list[dict]:
        now = int(self.now() * 1e9)
        start = parse_time(params.get("start"), now - 6 * 3600 * 10**9)
        end = parse_time(params.get("end"), now)
        wanted = [parse_query(s) for s in selectors]
        if any(not isinstance(q, LogQuery) for q in wanted):
            raise LokiHTTPError("parse error : only stream selectors are accepted here")
        data = self.data
        present = [data.streams[i] for i in data.streams_in(start, end)]
        return [s for s in present if not wanted or any(q.selects(s) for q in wanted)]


def _handler_for(api: LokiAPI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            self._serve(urlsplit(self.path).query)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            self._serve("&".join(p for p in (urlsplit(self.path).query, body) if p))

        def _serve(self, raw_query: str):
            path = urlsplit(self.path).path
            multi = parse_qs(raw_query, keep_blank_values=True)
            params = {k: v[-1] for k, v in multi.items()}
            api.requests.append({"path": path, "params": params,
                                    "headers": dict(self.headers.items())})
            canned = api.take_canned(path)
            if canned:
                return self._send(canned.status, canned.body, canned.content_type)
            try:
                status, body, ctype = self._route(path, params, multi)
            except LokiHTTPError as exc:
                status, body, ctype = exc.status, exc.message.encode(), TEXT
            self._send(status, body, ctype)

        def _route(self, path, params, multi):
            flags = self.headers.get("X-Loki-Response-Encoding-Flags", "")
            categorize = "categorize-labels" in [f.strip() for f in flags.split(",")]
            if path == "/ready":
                return 200, b"ready", TEXT
            prefix = "/loki/api/v1"
            if path == prefix + "/query_range":
                data = api.query_range(params, categorize)
            elif path == prefix + "/query":
                data = api.query(params)
            elif path == prefix + "/labels":
                data = api.labels(params)
            elif path.startswith(prefix + "/label/") and path.endswith("/values"):
                name = unquote(path[len(prefix + "/label/"):-len("/values")])
                data = api.labels(params, name)
            elif path == prefix + "/series":
                data = api.series(params, multi.get("match[]", []))
            else:
                return 404, b"404 page not found\n", TEXT
            body = {"status": "success", "data": data}
            if api.warnings and path.endswith(("/query_range", "/query")):
                body["warnings"] = list(api.warnings)
            return 200, orjson.dumps(body), "application/json; charset=UTF-8"

        def _send(self, status: int, body: bytes, content_type: str):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler

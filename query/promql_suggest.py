"""Autocomplete for the ad-hoc PromQL box: what the cursor is on, and whole-text suggestions.

Pure functions. ``context(text)`` reads the end of the text (the cursor is at the end while
typing) and says whether a metric name, a label name or a label value is being typed;
``completions`` turns candidates into full texts, which an HTML <datalist> offers as-is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from query.limits import MAX_QUERY, Rejected, text
from query.promql import escape_value


class Context(NamedTuple):
    """What is being typed: "metric", "label", "value", "grouping" (a by-list label) or None."""

    kind: str | None
    head: str  # the text before the token
    token: str  # the partial word typed so far
    metric: str = ""  # the selector's metric name, when inside {…}
    label: str = ""  # the label whose value is being typed

    @property
    def match(self) -> str | None:
        """A series selector narrowing label names and values to the metric, if known."""
        return f"{{__name__={_quoted(self.metric)}}}" if self.metric else None


_IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_VALUE = re.compile(rf'(?s)^(.*?)({_IDENT})?\{{([^{{}}]*?,\s*|\s*)({_IDENT})\s*(=~|!~|!=|=)\s*"'
                    r'((?:[^"\\]|\\.)*)$')
_LABEL = re.compile(rf"(?s)^(.*?)({_IDENT})?\{{((?:[^{{}}\"]|\"(?:[^\"\\]|\\.)*\")*?)"
                    r"([a-zA-Z_]\w*|)$")
_GROUPING = re.compile(r"(?s)^(.*\b(?:by|without|on|ignoring|group_left|group_right)\s*\("
                       r"(?:[^()]*,\s*)?)([a-zA-Z_]\w*|)$")
_METRIC = re.compile(rf"(?s)^(.*?)({_IDENT})$")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
             "and", "or", "unless"}


def context(text: str) -> Context:
    """What the end of ``text`` is: a label value, a label name, a metric name, or nothing."""
    text = text or ""
    if m := _VALUE.match(text):
        head = text[: len(text) - len(m.group(6))]
        return Context("value", head, m.group(6), m.group(2) or "", m.group(4))
    if (m := _LABEL.match(text)) and _inside_braces(text):
        head = text[: len(text) - len(m.group(4))]
        return Context("label", head, m.group(4), m.group(2) or "")
    if m := _GROUPING.match(text):
        return Context("grouping", m.group(1), m.group(2))
    if (m := _METRIC.match(text)) and m.group(2) not in _KEYWORDS and not _in_range(text):
        return Context("metric", m.group(1), m.group(2))
    return Context(None, text, "")


def _inside_braces(text: str) -> bool:
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    return unquoted.rfind("{") > unquoted.rfind("}")


def _in_range(text: str) -> bool:
    # "[5m" is a duration, not a metric name.
    return text.rfind("[") > text.rfind("]")


def _quoted(value: str) -> str:
    return f'"{escape_value(value)}"'


def completions(ctx: Context, candidates: Iterable[str], limit: int = 50) -> list[str]:
    """Full texts for the datalist: ``ctx.head`` + each candidate starting with the token."""
    if ctx.kind is None:
        return []
    token = ctx.token.lower()
    matching = sorted({c for c in candidates if c.lower().startswith(token)}, key=str.lower)
    if len(matching) < limit and token:
        # Then names merely containing the token (typing "bytes" finds *_bytes_total).
        matching += sorted({c for c in candidates if token in c.lower()} - set(matching),
                           key=str.lower)
    out = []
    for c in matching[:limit]:
        if ctx.kind == "value":
            out.append(f'{ctx.head}{escape_value(c)}"')
        elif ctx.kind == "label":
            out.append(f'{ctx.head}{c}="')
        else:
            out.append(ctx.head + c)
    return out


# --- functions, keywords and recent queries -------------------------------------------------

AGGREGATIONS = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk",
                "bottomk", "quantile", "count_values", "limitk", "limit_ratio")
FUNCTIONS = (
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count_over_time", "day_of_month", "day_of_week", "day_of_year",
    "days_in_month", "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "max_over_time",
    "min_over_time", "minute", "month", "predict_linear", "present_over_time",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
    "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "time", "timestamp",
    "vector", "year",
)
#: words that follow a finished operand, and what they are written with
AFTER_OPERAND = {"by": " (", "without": " (", "on": " (", "ignoring": " (",
                 "group_left": " (", "group_right": " (", "offset": " ", "bool": " ",
                 "and": " ", "or": " ", "unless": " "}
#: recent queries the browser keeps (its local storage) and offers back
RECENT = 20


def words(text: str, ctx: Context) -> list[str]:
    """Whole-text suggestions of PromQL's own words where one may go: a function or an
    aggregation where an expression starts, a keyword or set operator after an operand."""
    text = text or ""
    if ctx.kind == "metric" and not _operand_ended(ctx.head):
        token = ctx.token.lower()
        return [f"{ctx.head}{w}(" for w in sorted((*AGGREGATIONS, *FUNCTIONS))
                if w.startswith(token)]
    if ctx.kind == "metric":
        head, token = ctx.head, ctx.token.lower()
    elif ctx.kind is None and text and _operand_ended(text):
        head, token = text, ""
    else:
        return []
    return [head + w + tail for w, tail in AFTER_OPERAND.items() if w.startswith(token)]


def _operand_ended(head: str) -> bool:
    # "rate(x[5m]) o": after ")", "]", "}", a quoted string, a name or a number and a space,
    # the next word joins or qualifies that operand.
    stripped = head.rstrip()
    return stripped != head and bool(re.search(r'[)\]}"\w:.]$', stripped))


def recent_matching(recent, text: str, most: int = RECENT) -> list[str]:
    """The recent queries worth offering for ``text``: all of them when the box is empty,
    else those containing it (case-insensitive), most recent first."""
    wanted = (text or "").strip().lower()
    return [q for q in recent[:most] if q != text and wanted in q.lower()]


def checked_recent(value) -> list[str]:
    """The recent queries the browser sent back: a list of at most ``RECENT`` texts."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > RECENT:
        raise Rejected(f"recent queries: expected a list of at most {RECENT} queries")
    return [text(q, "recent query", most=MAX_QUERY) for q in value]


def remembered(query: str, recent, most: int = RECENT) -> list[str]:
    """``recent`` with ``query`` first, once, at most ``most`` kept (the browser's store)."""
    return [q for q in [query, *(r for r in recent if r != query)] if q][:most]

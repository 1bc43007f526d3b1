"""Autocomplete for the ad-hoc PromQL box: what the cursor is on, and whole-text suggestions.

Pure functions. ``context(text)`` reads the end of the text (the cursor is at the end while
typing) and says whether a metric name, a label name or a label value is being typed;
``completions`` turns candidates into full texts, which an HTML <datalist> offers as-is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

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

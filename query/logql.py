"""LogQL text: the one stream-selector parser, matchers, and the queries built from a query.

Every reader of a selector goes through ``selector_span`` (strings in ``"…"`` with escapes and
in backticks are skipped), so the editor's "insert a matcher", the pager's one-stream split and
the volume query cannot disagree about where a selector ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from query.promql import escape_value
from query.timerange import format_duration

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)'
                      r"\s*")


def is_log_query(query: str) -> bool:
    """Log queries start with a stream selector; metric queries with a function or ``(``."""
    return query.lstrip().startswith("{")


def selector_span(query: str) -> tuple[int, int]:
    """Indexes of the selector's ``{`` and ``}``; ValueError when there is none or it is open."""
    start = query.find("{")
    if start < 0:
        raise ValueError(f"not a log query (no stream selector): {query!r}")
    i, quote = start + 1, None
    while i < len(query):
        ch = query[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"`":
            quote = ch
        elif ch == "}":
            return start, i
        i += 1
    raise ValueError(f"stream selector is not closed: {query!r}")


def selector_of(query: str) -> str:
    """The stream selector ``{…}`` of a log query."""
    open_at, close_at = selector_span(query)
    return query[open_at:close_at + 1]


def matchers(selector_inside: str) -> list[tuple[str, str, str]]:
    """``a="x", b=~`y``` → [(name, operator, quoted value)]; ValueError on anything else."""
    found, pos, text = [], 0, selector_inside
    while pos < len(text) and text[pos:].strip():
        m = _MATCHER.match(text, pos)
        if not m:
            raise ValueError(f"cannot read the matcher at {text[pos:].strip()!r}")
        found.append(m.groups())
        pos = m.end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
    return found


def matcher(name: str, value: str, op: str = "=") -> str:
    """``name="value"`` with the value quoted as LogQL reads it."""
    return f'{name}{op}"{escape_value(value)}"'


def with_matcher(query: str | None, name: str, value: str) -> str:
    """Add ``name="value"`` to the query's selector, replacing any matcher on ``name``.

    A text with no selector gets one in front; a selector this parser cannot read is left
    as typed and the matcher is appended inside it, so nothing typed is lost.
    """
    text = query or ""
    new = matcher(name, value)
    try:
        open_at, close_at = selector_span(text)
    except ValueError:
        rest = text.strip()
        return f"{{{new}}}" + (f" {rest}" if rest else "")
    inside = text[open_at + 1:close_at]
    try:
        kept = [f"{n}{op}{v}" for n, op, v in matchers(inside) if n != name]
    except ValueError:
        kept = [inside.strip()] if inside.strip() else []
    return text[:open_at] + "{" + ", ".join([*kept, new]) + "}" + text[close_at + 1:]


def with_stream_matchers(query: str, labels: Mapping[str, str], absent=()) -> str:
    """``query`` narrowed to one stream: ``name="value"`` per label, ``name=""`` per absent."""
    open_at, close_at = selector_span(query)
    extra = [matcher(k, v) for k, v in sorted(labels.items())]
    extra += [f'{k}=""' for k in sorted(absent)]
    inner = query[open_at + 1:close_at].strip()
    joined = ", ".join(([inner] if inner else []) + extra)
    return query[:open_at] + "{" + joined + "}" + query[close_at + 1:]


def stream_name(labels: Mapping[str, str]) -> str:
    """``{app="api", level="error"}``: sorted, quoted as LogQL reads it back."""
    return "{" + ", ".join(f'{k}="{escape_value(v)}"' for k, v in sorted(labels.items())) + "}"


def volume_query(query: str, step_s: float, *, json_levels: bool = False,
                 parsed_only: bool = False) -> str:
    """The level histogram of a log query: entries per ``step_s`` bucket by level.

    Loki refuses a metric query over lines a parser failed on ("pipeline error"), so:
    ``json_levels`` counts only the query's JSON lines, by the ``level`` their JSON carries
    (``| json | __error__=""``; the rest of the plain histogram's total is the other lines);
    ``parsed_only`` counts only the lines the query's own parser read (``| __error__=""``).
    """
    pipeline = query.strip() + (' | json | __error__=""' if json_levels else "") + (
        ' | __error__=""' if parsed_only else "")
    return (f"sum by (level, detected_level) (count_over_time({pipeline} "
            f"[{format_duration(step_s)}]))")


#: Parser stages after which every extracted field can be filtered as a label.
PARSERS = ("json", "logfmt", "pattern", "regexp", "unpack")
_PARSER_STAGE = re.compile(r"\|\s*(" + "|".join(PARSERS) + r")\b")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _code_only(text: str) -> str:
    """``text`` with the inside of every "…" and `…` string blanked (same length)."""
    out, quote, escaped = [], None, False
    for ch in text:
        if quote:
            out.append(" ")
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        else:
            out.append(ch)
            quote = ch if ch in "\"`" else None
    return "".join(out)


def has_parser(query: str) -> bool:
    """Whether the pipeline after the selector has a parser stage (``| json``, ``| logfmt`` …)."""
    try:
        _, close_at = selector_span(query)
    except ValueError:
        return False
    return _PARSER_STAGE.search(_code_only(query[close_at + 1:])) is not None


def is_label_name(name: str) -> bool:
    """Whether ``name`` can stand unquoted in a label filter."""
    return _LABEL_NAME.fullmatch(name) is not None


def with_label_filter(query: str, name: str, value: str, *, parser: str | None = None) -> str:
    """``query`` with ``| name="value"`` appended; ``| <parser>`` first when ``parser`` is
    given and the query has no parser yet (a JSON field needs ``| json`` to be a label)."""
    if not is_label_name(name):
        raise ValueError(f"{name!r} is not a label name LogQL can filter on")
    text = query.rstrip()
    if parser and not has_parser(text):
        text += f" | {parser}"
    return f"{text} | {matcher(name, value)}"

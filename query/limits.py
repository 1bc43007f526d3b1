"""What the browser may ask for: every value it sends is an intent, clamped or refused here.

A callback's inputs and states arrive as JSON anyone can forge: a limit of 10⁹, ``force: true``,
a 400-digit epoch, a width of ``1e999`` (JSON for infinity), a string where a number goes, a
list where a mapping goes. These functions turn such values into what the server will do,
bounded by the configuration, or raise ``Rejected`` with a message a person can read: the
callbacks show it in the panel, or the app answers HTTP 400 with it — never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from query.timerange import LATEST, human_duration, shown

#: Longest query text accepted from the browser (a long PromQL or LogQL fits easily).
MAX_QUERY = 20_000
#: Longest short text: a label name or value, a time expression, a dropdown value.
MAX_TEXT = 1_000
DIRECTIONS = ("backward", "forward")
_LATEST_NS = LATEST * 10**9


class Rejected(ValueError):
    """A request the server will not run; the message says why, in words for the page."""


def mapping(value, what: str) -> Mapping:
    """``value`` if it is a JSON object."""
    if not isinstance(value, Mapping):
        raise Rejected(f"{what}: expected an object, got {type(value).__name__}")
    return value


def text(value, what: str, *, most: int = MAX_TEXT) -> str:
    """``value`` as text: None is "", a string of at most ``most`` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Rejected(f"{what}: expected text, got {type(value).__name__}")
    if len(value) > most:
        raise Rejected(f"{what}: {len(value):,} characters is too long (at most {most:,})")
    return value


def optional_text(value, what: str, *, most: int = MAX_TEXT) -> str | None:
    """A dropdown's value: None stays None, otherwise ``text``."""
    return None if value is None else text(value, what, most=most)


def texts(value, what: str, *, most: int = 10_000) -> list[str]:
    """A list of short texts (None is empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > most:
        raise Rejected(f"{what}: expected a list of at most {most:,} texts")
    return [text(v, what) for v in value]


def number(value, what: str) -> float:
    """A finite number: a JSON number (not true/false) or a numeric string."""
    if isinstance(value, str) and len(value) <= 40:
        try:
            value = float(value)
        except ValueError:
            raise Rejected(f"{what}: {shown(value)} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(f"{what}: expected a number, got {shown(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer with hundreds of digits
        result = math.inf
    if not math.isfinite(result):
        raise Rejected(f"{what}: {shown(value)} is not a finite number")
    return result


def clamp(value, what: str, lo: int, hi: int, default: int | None = None) -> int:
    """A whole number clamped into [lo, hi]; ``default`` when missing or unreadable."""
    try:
        wanted = number(value, what)
    except Rejected:
        if default is None:
            raise
        wanted = default
    return int(min(max(math.floor(wanted), lo), hi))


def limit_problem(value, most: int) -> str | None:
    """Why the typed log limit cannot run, in words for beside the box; None when it can (or
    the box is empty: the configured default runs)."""
    if value is None or value == "":
        return None
    try:
        wanted = number(value, "limit")
    except Rejected:
        wanted = None
    if wanted is None or not (wanted.is_integer() and 1 <= wanted <= most):
        return f"limit must be a whole number from 1 to {most:,}"
    return None


def points(width, *, fallback: int, lo: int, hi: int) -> int:
    """Points per series for a panel ``width`` pixels wide; ``fallback`` when unknown."""
    try:
        wanted = number(width, "panel width") if width else fallback
    except Rejected:
        wanted = fallback  # the width is a measurement, not a request: unknown, then
    if wanted <= 0:
        wanted = fallback
    return int(min(max(wanted, lo), hi))


def direction(value) -> str:
    """'forward' or 'backward' (Loki's two)."""
    if value not in DIRECTIONS:
        raise Rejected(f"direction: {shown(value)} is neither 'forward' nor 'backward'")
    return value


def nanoseconds(value, what: str) -> int:
    """An epoch in nanoseconds that int64 (Loki, pandas) can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(f"{what}: expected a number of nanoseconds, got {shown(value)}")
    if not (isinstance(value, int) or math.isfinite(value)) or not 0 <= value <= _LATEST_NS:
        raise Rejected(f"{what}: {shown(value)} ns is out of range (1970 to 2262)")
    return int(value)


def span(start: float, end: float, most: float, setting: str) -> None:
    """Refuse a range longer than ``most`` seconds (``setting`` names the config key)."""
    if end - start > most:
        raise Rejected(f"time range: {human_duration(end - start)} is longer than the "
                       f"{human_duration(most)} allowed ({setting})")


def logs_request(req, *, max_limit: int, max_range: float) -> dict[str, Any]:
    """A Logs request read back from the browser: checked and clamped, or ``Rejected``.

    The request is the server's own (``callbacks.logs.request``), but it travels through a
    dcc.Store: a forged one may ask for any limit, range or ``force``.
    """
    req = mapping(req, "logs request")
    out = {"at": _stamp(req.get("at")), "live": req.get("live") is True,
           "force": req.get("force") is True}
    if req.get("error") is not None:
        return {**out, "error": text(req["error"], "error", most=MAX_TEXT)}
    query = text(req.get("query"), "query", most=MAX_QUERY).strip()
    if not query:
        raise Rejected("logs request: no query")
    start = nanoseconds(req.get("start_ns"), "start_ns")
    end = nanoseconds(req.get("end_ns"), "end_ns")
    if end <= start:
        raise Rejected("time range: 'from' must be before 'to'")
    span(start / 1e9, end / 1e9, max_range, "logs.max_range")
    return {**out, "query": query, "start_ns": start, "end_ns": end,
            "limit": clamp(req.get("limit"), "limit", 1, max_limit, default=max_limit),
            "direction": direction(req.get("direction"))}


def _stamp(value) -> float:
    try:
        return number(value, "at")
    except Rejected:
        return 0.0

"""Grafana-style time ranges ("now-1h" … "now") and the query step for a range.

Pure functions: the Metrics tab's range picker, the Prometheus datasource and the Logs tab
all resolve ranges and plan steps here.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple

#: Relative presets offered by the range picker: (label, "from" expression; "to" is "now").
PRESETS: list[tuple[str, str]] = [
    ("Last 5 minutes", "now-5m"),
    ("Last 15 minutes", "now-15m"),
    ("Last 1 hour", "now-1h"),
    ("Last 6 hours", "now-6h"),
    ("Last 24 hours", "now-24h"),
    ("Last 7 days", "now-7d"),
    ("Last 30 days", "now-30d"),
]

#: Prometheus rejects a range query asking for more than 11 000 points per series.
MAX_POINTS = 11_000
#: The last second int64 nanoseconds can hold (April 2262): pandas, Loki and plotly's limit.
LATEST = (2**63 - 1) // 10**9

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
#: "now", "now-3h", "now-7d/d" (Grafana's rounding: "/d" snaps to the start of the day for a
#: range's "from" and to its end for its "to"), "now/w" (ISO weeks start on Monday)
_RELATIVE = re.compile(r"^now(?:\s*-\s*(\d+)\s*(s|m|h|d|w))?(?:\s*/\s*(s|m|h|d|w|M|y))?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
#: Steps a person reads easily; beyond the last one, whole days.
FRIENDLY_STEPS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1, 2, 5, 10, 15, 30,
    _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR,
    _DAY, 2 * _DAY, 7 * _DAY,
)


class Window(NamedTuple):
    """A query range aligned to its step (epoch seconds)."""

    start: float
    end: float
    step: float

    @property
    def points(self) -> int:
        """Samples per series Prometheus returns at most for this window."""
        return round((self.end - self.start) / self.step) + 1


def resolve(frm: str, to: str, now: float, tz: tzinfo = UTC) -> tuple[float, float]:
    """("now-1h", "now") → (start, end) in epoch seconds; ValueError names the bad part.

    ``tz`` is the zone whose days "/d" rounds to and a naive ISO time is read in.
    """
    start, end = resolve_one(frm, now, "from", tz), resolve_one(to, now, "to", tz)
    if start >= end:
        raise ValueError(f"time range: 'from' ({frm!r}) must be before 'to' ({to!r})")
    return start, end


def resolve_one(text: str, now: float, which: str = "time", tz: tzinfo = UTC) -> float:
    """One end of a range: "now", "now-5m", epoch milliseconds, or ISO-8601 (naive: in
    ``tz``, UTC unless told)."""
    raw = str(text).strip()
    try:
        seconds = _resolve(raw, now, up=which == "to", tz=tz)
    except OverflowError:  # a 400-digit epoch or "now-10¹⁰⁰d": far out of range
        seconds = math.inf
    except ValueError:
        raise ValueError(
            f"time range: {which} {shown(text)} is not 'now', 'now-<N><s|m|h|d|w>' (optionally "
            "rounded: 'now-7d/d'), epoch seconds or milliseconds, or an ISO-8601 date") from None
    return in_range(seconds, text, which)


def _resolve(raw: str, now: float, up: bool = False, tz: tzinfo = UTC) -> float:
    m = _RELATIVE.match(raw)
    if m:
        moment = now - (int(m.group(1)) * _UNITS[m.group(2)] if m.group(1) else 0)
        return round_to(moment, m.group(3), up=up, tz=tz) if m.group(3) else moment
    if m := _EPOCH.fullmatch(raw):
        return _epoch_ns(m.group(1), m.group(2)) / 1e9  # Grafana's URLs: ms; people: s
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz, fold=0)
    return parsed.timestamp()


def round_to(epoch: float, unit: str, *, up: bool = False, tz: tzinfo = UTC) -> float:
    """``epoch`` snapped to the start of its ``unit`` (s m h d w M y) on ``tz``'s clock (UTC
    unless told), or with ``up`` to the last millisecond of it, as Grafana rounds "now/d" in
    a range's "to"."""
    if tz is not UTC and unit not in ("s", "m"):
        return _round_on_clock(epoch, unit, up, tz)
    moment = datetime.fromtimestamp(epoch, UTC)
    if unit == "y":
        start = moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        after = start.replace(year=start.year + 1)
    elif unit == "M":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        after = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        size = _UNITS[unit]
        # Epoch day 0 was a Thursday: weeks are counted from the Monday before it.
        shift = 3 * _DAY if unit == "w" else 0
        begin = math.floor((epoch + shift) / size) * size - shift
        return begin + size - 0.001 if up else float(begin)
    return (after.timestamp() - 0.001) if up else start.timestamp()


def _round_on_clock(epoch: float, unit: str, up: bool, tz: tzinfo) -> float:
    # On a zone's wall clock a day is not always 24 h (daylight saving): the bounds are the
    # wall-clock starts of this unit and the next one, each read back in the zone.
    wall = datetime.fromtimestamp(epoch, tz).replace(tzinfo=None)
    if unit == "h":
        start = wall.replace(minute=0, second=0, microsecond=0)
        after = start + timedelta(hours=1)
    else:
        day = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "d":
            start, after = day, day + timedelta(days=1)
        elif unit == "w":
            start = day - timedelta(days=day.weekday())
            after = start + timedelta(days=7)
        elif unit == "M":
            start = day.replace(day=1)
            after = start.replace(year=start.year + start.month // 12,
                                  month=start.month % 12 + 1)
        else:
            start = day.replace(month=1, day=1)
            after = start.replace(year=start.year + 1)
    bound = after if up else start
    seconds = bound.replace(tzinfo=tz, fold=0).timestamp()
    return seconds - 0.001 if up else seconds


def in_range(seconds: float, text, which: str = "time") -> float:
    """``seconds`` if between 1970 and 2262 (int64 nanoseconds), else ValueError."""
    if not 0 <= seconds <= LATEST:
        raise ValueError(f"time range: {which} {shown(text)} is out of range "
                         "(1970-01-01 to 2262-04-11 UTC)")
    return seconds


def shown(text, most: int = 40) -> str:
    """``text`` quoted for a message, cut short when long (a forged value may be huge)."""
    raw = repr(str(text))
    return raw if len(raw) <= most else raw[:most] + "…"


def is_relative(frm: str, to: str) -> bool:
    """Whether both ends follow the clock (only then does live refresh make sense)."""
    return all(_RELATIVE.match(str(t).strip()) for t in (frm, to))


def friendly_step(seconds: float) -> float:
    """The smallest friendly step ≥ ``seconds`` (whole days past the table's end)."""
    for step in FRIENDLY_STEPS:
        if step >= seconds - 1e-9:
            return step
    return math.ceil(seconds / _DAY) * _DAY


def plan(start: float, end: float, *, max_data_points: int = 1000,
         min_step: float = 1.0) -> Window:
    """The aligned window and friendly step giving at most ``max_data_points`` + 1 points."""
    if not end >= start:
        raise ValueError(f"time range: end {end} is before start {start}")
    span = end - start
    wanted = max(span / max(max_data_points, 1), min_step, span / MAX_POINTS)
    step = friendly_step(wanted)
    while True:
        window = _align(start, end, step)
        # Aligning may add a step at the start; a coarser step then keeps the bound.
        if window.points <= max_data_points + 1 and window.points < MAX_POINTS:
            return window
        step = friendly_step(step * 1.0001)


def _align(start: float, end: float, step: float) -> Window:
    # Fixed boundaries make a moving "now-1h" hit the same cache key for a whole step. The end
    # is floored, as Grafana does: a point evaluated in the future finds no gauge sample within
    # Prometheus' 5-minute lookback once steps are long.
    return Window(float(math.floor(start / step) * step), float(math.floor(end / step) * step),
                  float(step))


def live_ttl(step: float, refresh: float, cache_ttl: float) -> float:
    """Seconds a live panel's answer is reused: its whole step, and never less than a refresh.

    A live window's key is its query, step and end floored to the step, so it is current for
    one step: reused that long, every viewer of the panel shares one upstream call per step
    (``cache_ttl`` alone, shorter than the refresh, made each viewer's tick a new call). The
    last point may then miss a scrape stored just after the step began; the next step's
    window asks for that instant again and the chart's patch replaces it (``query.live``).
    """
    return max(step, refresh, cache_ttl)


def latest_instant(frm: str, to: str, window: Window, now: float,
                   scrape_interval: float, tz: tzinfo = UTC) -> float | None:
    """The instant of a live range's latest point, or None when the window needs none.

    ``plan`` floors a window's end to its step, so a live 7 d chart (2 h steps) stops up to
    2 h short of now. When the range follows the clock and its window stops a scrape
    interval or more before its end (now, or sooner for a "to" like "now-1h"), the panel
    also asks its value at that end floored to the scrape interval: every viewer asks the
    same instant for one interval (one cache key), and the point is never older than that.
    A step under the scrape interval leaves the window close enough: None, no extra call.
    ``tz``: the zone whose days a rounded "to" ("now-1d/d") ends with.
    """
    if scrape_interval <= 0 or not is_relative(frm, to):
        return None
    reach = min(resolve_one(to, now, "to", tz), now)
    if reach - window.end < scrape_interval:
        return None
    return float(math.floor(reach / scrape_interval) * scrape_interval)


def format_duration(seconds: float) -> str:
    """PromQL duration in the largest unit that divides it: 300 → "5m", 90 → "90s"."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {seconds!r}")
    for unit in ("w", "d", "h", "m", "s"):
        size = int(_UNITS[unit] * 1000)
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def human_duration(seconds: float, *, whole: bool = False) -> str:
    """A span as people read it, in PromQL's units: 90 → "1.5m", 77400 → "21.5h", 300 → "5m".

    ``whole`` counts whole units only, as a clock does ("1m" for 90 s).
    """
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit]:
            n = seconds / _UNITS[unit]
            return f"{n // 1:.0f}{unit}" if whole else f"{n:.3g}{unit}"
    return f"{seconds // 1:.0f}s" if whole else f"{seconds:.3g}s"


def parse_duration(text: str) -> float:
    """PromQL duration ("1h30m", "5m", "250ms") → seconds; ValueError when malformed."""
    raw = str(text).strip()
    parts = _DURATION.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def rate_interval(step: float, scrape_interval: float) -> str:
    """Grafana's $__rate_interval: max(step + scrape, 4 × scrape) as a PromQL duration."""
    return format_duration(max(step + scrape_interval, 4 * scrape_interval))


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                      r"(Z|z|[+-]\d\d:?\d\d)?")
_EPOCH = re.compile(r"(\d+)(?:\.(\d{1,9}))?")


def parse_time_ns(text: str, now: float) -> int:
    """RFC 3339 (to the ns), epoch s/ms/µs/ns (by digit count) or "now-1h" → epoch ns."""
    raw = str(text).strip()
    if m := _RFC3339.fullmatch(raw):
        ns = _rfc3339_ns(m)
    elif m := _EPOCH.fullmatch(raw):
        ns = _epoch_ns(m.group(1), m.group(2))
    else:
        try:
            return round(resolve_one(raw, now) * 1e9)
        except ValueError:
            raise ValueError(f"time {shown(text)} is not RFC 3339, epoch seconds/ms/µs/ns, "
                             "'now' or 'now-<N><s|m|h|d|w>'") from None
    if not 0 <= ns < 2**63:
        raise ValueError(f"time {shown(text)} is out of range (1970-01-01 to 2262-04-11 UTC)")
    return ns


def _rfc3339_ns(m: re.Match) -> int:
    y, mo, d, h, mi, s, frac, zone = m.groups()
    seconds = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s)))
    if zone and zone not in "Zz":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        seconds -= sign * (hours * 3600 + minutes * 60)
    return seconds * 10**9 + int((frac or "").ljust(9, "0"))


def _epoch_ns(whole: str, frac: str | None) -> int:
    # By size, as a person types them now: 10 digits seconds, 13 ms, 16 µs, 19 ns.
    digits = len(whole.lstrip("0")) or 1
    scale = 10**9 if digits <= 11 else 10**6 if digits <= 14 else 10**3 if digits <= 17 else 1
    if frac and scale != 10**9:
        raise ValueError(f"time {whole}.{frac}: only epoch seconds take a fraction")
    return int(whole) * scale + int((frac or "").ljust(9, "0"))

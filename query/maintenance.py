"""Maintenance windows: one-off (start/end) or recurring (a cron line and a duration), in UTC.

Pure: times are epoch seconds, nothing here reads a clock. The cron dialect is the classic
five fields (minute hour day-of-month month day-of-week) with ``*``, ``a-b``, ``*/n``,
``a-b/n``, lists, month and day names, 0 or 7 for Sunday, the ``@hourly`` … ``@yearly``
shorthands, and Vixie cron's rule that when both day fields are restricted, either may match.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: the longest recurring window: checking one means looking back this far for its start
MAX_DURATION = 7 * 86400

_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
           "@annually": "0 0 1 1 *"}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (name, low, high, names)
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))


@dataclass(frozen=True)
class Cron:
    """A parsed cron line: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    #: both day fields restricted: a day matches when either does (Vixie cron)
    either_day: bool

    def day_matches(self, day: dt.date) -> bool:
        """Whether the cron line fires on ``day`` (at some minute)."""
        if day.month not in self.months:
            return False
        in_month, in_week = day.day in self.days, (day.isoweekday() % 7) in self.weekdays
        return (in_month or in_week) if self.either_day else (in_month and in_week)

    def matches(self, at: float) -> bool:
        """Whether the cron line fires at the minute holding ``at`` (epoch seconds, UTC)."""
        t = dt.datetime.fromtimestamp(at, dt.UTC)
        return t.minute in self.minutes and t.hour in self.hours and self.day_matches(t.date())


def parse_cron(text: str) -> Cron:
    """Five cron fields (or an ``@daily``-style shorthand); ValueError says what is wrong."""
    text = _MACROS.get(text.strip().lower(), text)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"needs 5 fields (minute hour day month weekday), got {len(parts)}")
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    restricted = not parts[2].startswith("*") and not parts[4].startswith("*")
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, restricted)


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.lower().split(","):
        span, _, step_text = item.partition("/")
        step = _number(step_text, name, 1, high - low + 1, {}) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(a, name, low, high, names), _number(b, name, low, high, names)
            if first > last:
                raise ValueError(f"{name}: range {span!r} runs backwards")
        else:
            first = _number(span, name, low, high, names)
            last = high if step_text else first  # "5/15": from 5 to the end, every 15
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name}: {text!r} is not a number from {low} to {high}"
                         + (" or a name" if names else ""))
    return int(text)


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> int:
    """``"2h"``, ``"90m"``, ``"1h30m"``, ``"1d"`` → seconds; ValueError when not one."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or found is None:
        raise ValueError('not a duration like "90m", "2h", "1h30m" or "1d"')
    d, h, m, s = (int(g or 0) for g in found.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if not 60 <= seconds <= MAX_DURATION:
        raise ValueError("must be from 1 minute to 7 days")
    return seconds


def parse_time(value: str | dt.datetime | dt.date) -> float:
    """ISO 8601 text or a TOML date-time → epoch seconds; no offset means UTC."""
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, dt.date):
        t = dt.datetime.combine(value, dt.time())
    else:
        try:
            t = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError('not an ISO 8601 time like "2026-12-06T03:00:00Z"') from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


@dataclass(frozen=True)
class Window:
    """One maintenance window: ``service`` ("*" for all), one-off or recurring."""

    service: str = "*"
    start: float | None = None
    end: float | None = None
    cron: Cron | None = None
    duration: int = 0
    reason: str = ""

    def applies_to(self, name: str) -> bool:
        return self.service in ("*", name)

    def active(self, at: float) -> bool:
        """Whether ``at`` (epoch seconds) falls inside the window."""
        if self.cron is None:
            return self.start is not None and self.end is not None and self.start <= at < self.end
        return any(start <= at < start + self.duration
                   for start in fire_times(self.cron, at - self.duration, at))


def fire_times(cron: Cron, since: float, until: float) -> Iterable[float]:
    """The minutes in ``(since, until]`` at which ``cron`` fires, day by day (never minute
    by minute: a week's look-back is at most 8 days of hour and minute sets)."""
    day = dt.datetime.fromtimestamp(since, dt.UTC).date()
    last = dt.datetime.fromtimestamp(until, dt.UTC).date()
    while day <= last:
        if cron.day_matches(day):
            midnight = calendar.timegm(day.timetuple())
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    at = midnight + hour * 3600 + minute * 60
                    if since < at <= until:
                        yield at
        day += dt.timedelta(days=1)


def window(service: str = "*", start="", end="", cron: str = "", duration: str = "",
           reason: str = "") -> Window:
    """A Window from a ``[[maintenance]]`` entry's values (already checked by config.py)."""
    if cron:
        return Window(service, cron=parse_cron(cron), duration=parse_duration(duration),
                      reason=reason)
    return Window(service, parse_time(start), parse_time(end), reason=reason)


def in_maintenance(windows: Sequence[Window], name: str, at: float) -> Window | None:
    """The first window covering service ``name`` at ``at``, or None."""
    return next((w for w in windows if w.applies_to(name) and w.active(at)), None)

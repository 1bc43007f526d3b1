"""The Metrics charts' time zone: UTC by default, or the zone the viewer's browser reports.

plotly.js (4.x) has no time-zone setting: it shows epoch milliseconds on the *browser's*
clock (``new Date(ms)``'s local date and time), data and layout alike, and date strings as
they are written. So the server sends each time as the instant whose browser-clock reading
is the chosen zone's reading (``shown_ms``): a chart in UTC reads UTC in any browser, and a
chart in the browser's zone is sent as is. Times a chart sends back (a drag-zoom's range, as
text) are read on the chosen zone's clock (``from_wall``).

The browser names its zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``) whatever
the choice; the server checks both names against the IANA database (``zoneinfo``).

Pure functions over zone names, epoch seconds and numpy arrays of epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from query.limits import mapping, text

#: the default zone, and the name every chart uses for it
UTC_NAME = "UTC"
#: longest zone name accepted ("America/Argentina/ComodRivadavia" is the longest IANA one)
MAX_NAME = 64
#: an IANA name: "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def chosen(value) -> tuple[str, str | None]:
    """The zone to draw in, from the store the page sends, and a note when it is not used.

    The store is ``{"zone": <shown>, "browser": <the browser's zone>}`` (a bare name is the
    shown zone). None or "" is UTC. A value that is not text, or longer than any zone's
    name, is refused (``Rejected``: only a forged request sends one); a well-formed name
    this server's zone database does not know draws in UTC, with a note saying so.
    """
    raw = _part(value, "zone")
    if not raw or raw == UTC_NAME:
        return UTC_NAME, None
    if not _known(raw):
        return UTC_NAME, (f"time zone {raw!r} is unknown to this server's zone database: "
                          "times are shown in UTC")
    return raw, None


def checked(value) -> str:
    """The zone to draw in (``chosen`` without its note)."""
    return chosen(value)[0]


def browser(value) -> str:
    """The zone the browser's clock is on (UTC when not told, or not a zone known here)."""
    raw = _part(value, "browser")
    return raw if raw and _known(raw) else UTC_NAME


def _part(value, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # a bare name: the zone shown, the browser's not told
        return text(value, "time zone", most=MAX_NAME).strip() if key == "zone" else ""
    value = mapping(value, "time zone")
    return text(value.get(key), f"time zone: {key!r}", most=MAX_NAME).strip()


def _known(name: str) -> bool:
    return name == UTC_NAME or (bool(_NAME.fullmatch(name)) and _zone(name) is not None)


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_info(name: str) -> tzinfo:
    """The tzinfo of a checked zone name (UTC for anything unknown)."""
    return UTC if name == UTC_NAME else (_zone(name) or UTC)


def wall_ms(ms, zone: str) -> np.ndarray:
    """Epoch milliseconds → the same instants as ``zone``'s wall clock, in plotly's terms
    (milliseconds that plotly's UTC axis shows as the zone's date and time). NaN stays NaN.

    Each instant gets its own offset, so a range across a daylight-saving change is right
    on both sides of it.
    """
    values = np.asarray(ms, dtype=np.float64)
    if zone == UTC_NAME or not values.size:
        return values
    finite = np.isfinite(values)
    utc = pd.to_datetime(np.where(finite, values, 0.0), unit="ms", utc=True).as_unit("ns")
    local = utc.tz_convert(zone_info(zone)).tz_localize(None)
    offset_ms = (local.asi8 - utc.tz_localize(None).asi8) / 1e6
    return np.where(finite, values + offset_ms, np.nan)


def shown_ms(ms, zone: str, browser_zone: str = UTC_NAME) -> np.ndarray:
    """Epoch milliseconds → what to send plotly so a browser on ``browser_zone``'s clock
    shows ``zone``'s date and time of each instant. NaN stays NaN.

    The same zone (UTC in UTC, a browser's own zone) sends the instants as they are.
    Otherwise each is the instant the browser's clock reads as ``zone``'s clock does; a
    reading the browser's clock skips (its spring-forward hour) moves to the hour's end, the
    one thing milliseconds cannot show in that browser.
    """
    values = np.asarray(ms, dtype=np.float64)
    if zone == browser_zone or not values.size:
        return values
    wall = wall_ms(values, zone)
    if browser_zone == UTC_NAME:
        return wall
    finite = np.isfinite(wall)
    naive = pd.to_datetime(np.where(finite, wall, 0.0), unit="ms").as_unit("ns")
    # A reading the browser's clock passes twice is its first pass (summer time): fold=0.
    local = naive.tz_localize(zone_info(browser_zone), ambiguous=np.ones(len(naive), bool),
                              nonexistent="shift_forward")
    return np.where(finite, local.asi8 / 1e6, np.nan)


def wall_of(epoch: float, zone: str) -> float:
    """One instant (epoch seconds) as ``zone``'s wall clock, in epoch milliseconds."""
    return float(wall_ms(np.array([epoch * 1000.0]), zone)[0])


def from_wall(moment: datetime, zone: str) -> float:
    """A naive date and time read on ``zone``'s wall clock → epoch seconds.

    A time a daylight-saving change repeats is its first occurrence; one it skips is read
    with the offset before the change (Python's rule for ``fold=0``).
    """
    return moment.replace(tzinfo=zone_info(zone), fold=0).timestamp()


def wall_text(epoch: float, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch seconds as ``zone``'s 24-hour date and time."""
    return datetime.fromtimestamp(epoch, zone_info(zone)).strftime(fmt)


def offset_text(epoch: float, zone: str) -> str:
    """The zone's offset from UTC at ``epoch``: "UTC+01:00", "UTC-03:30", "UTC"."""
    delta = datetime.fromtimestamp(epoch, zone_info(zone)).utcoffset()
    minutes = round(delta.total_seconds() / 60) if delta else 0
    if not minutes:
        return UTC_NAME
    sign = "+" if minutes > 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


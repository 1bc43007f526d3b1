"""The Metrics charts' time zone: UTC by default, or the zone the viewer's browser reports.

plotly.js has no time zones: it draws epoch milliseconds as the wall clock of UTC. To draw a
chart in another zone, the server moves every time onto that zone's wall clock (``wall_ms``)
and moves the times a chart sends back (a drag-zoom's range) off it again (``from_wall``).
The browser only names its zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``); the
server checks the name against the IANA database (``zoneinfo``) before using it.

Pure functions over zone names, epoch seconds and numpy arrays of epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from query.limits import text

#: the default zone, and the name every chart uses for it
UTC_NAME = "UTC"
#: longest zone name accepted ("America/Argentina/ComodRivadavia" is the longest IANA one)
MAX_NAME = 64
#: an IANA name: "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def chosen(name) -> tuple[str, str | None]:
    """The zone to draw in, for the name the browser sent, and a note when it is not used.

    None or "" is UTC. A name that is not text, or longer than any zone's, is refused
    (``Rejected``: only a forged request sends one); a well-formed name this server's zone
    database does not know draws in UTC, with a note saying so.
    """
    raw = text(name, "time zone", most=MAX_NAME).strip()
    if not raw or raw == UTC_NAME:
        return UTC_NAME, None
    if not _NAME.fullmatch(raw) or _zone(raw) is None:
        return UTC_NAME, (f"time zone {raw!r} is unknown to this server's zone database: "
                          "times are shown in UTC")
    return raw, None


def checked(name) -> str:
    """The zone to draw in (``chosen`` without its note)."""
    return chosen(name)[0]


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


"""The range picker's state: presets, Back, zoom, absolute ranges and the URL codec.

The state is one dict of Grafana-style strings, so a range reads the same in the URL, the
cache keys and the label::

    {"from": "now-1h", "to": "now", "preset": "now-1h", "back": [["now-6h", "now"], …]}

Times shown and typed are on the chosen zone's clock (``query.timezone``: UTC unless the
viewer picks their browser's zone); the state itself keeps absolute ends in UTC.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from query.limits import Rejected, mapping, text
from query.timerange import (
    PRESETS,
    human_duration,
    in_range,
    is_relative,
    resolve,
    resolve_one,
    shown,
)
from query.timezone import UTC_NAME, from_wall, wall_text, zone_info

DEFAULT_FROM, DEFAULT_TO = "now-1h", "now"
#: how many zooms Back can undo
BACK_DEPTH = 20
#: longest "from" or "to" expression accepted ("2024-05-01T12:00:00.123456+02:00" fits)
MAX_END = 64
PRESET_LABELS = dict((frm, label) for label, frm in PRESETS)


def short_label(frm: str) -> str:
    """"now-5m" → "5m" for the preset buttons."""
    return frm.removeprefix("now-")


def initial_state(frm: str = DEFAULT_FROM, to: str = DEFAULT_TO) -> dict:
    """A fresh picker state showing ``frm`` … ``to``."""
    preset = frm if is_relative(frm, to) else DEFAULT_FROM
    return {"from": frm, "to": to, "preset": preset, "back": []}


def checked(state) -> dict:
    """A state read back from the browser: its shape checked (ends not resolved), or Rejected."""
    state = mapping(state, "range state")
    frm, to = _end(state.get("from"), "from"), _end(state.get("to"), "to")
    preset = _end(state.get("preset") or DEFAULT_FROM, "preset")
    back = state.get("back") or []
    if not isinstance(back, list) or len(back) > BACK_DEPTH:
        raise Rejected(f"range state: 'back' must be a list of at most {BACK_DEPTH} ranges")
    pairs = []
    for pair in back:
        if not isinstance(pair, list) or len(pair) != 2:
            raise Rejected("range state: each 'back' entry must be [from, to]")
        pairs.append([_end(pair[0], "back"), _end(pair[1], "back")])
    return {"from": frm, "to": to, "preset": preset, "back": pairs}


def _end(value, what: str) -> str:
    end = text(value, f"range state: {what!r}", most=MAX_END).strip()
    if not end:
        raise Rejected(f"range state: {what!r} is empty")
    return end


def set_range(state: Mapping, frm: str, to: str, *, remember: bool = True) -> dict:
    """``state`` moved to ``frm`` … ``to``; Back returns to the old range when ``remember``."""
    old = [state["from"], state["to"]]
    back = list(state.get("back", []))
    if remember and old != [frm, to]:
        back = [*back, old][-BACK_DEPTH:]
    preset = frm if is_relative(frm, to) else state.get("preset", DEFAULT_FROM)
    return {"from": frm, "to": to, "preset": preset, "back": back}


def go_back(state: Mapping) -> dict:
    """Undo the last change (a zoom, a preset, an absolute range)."""
    back = list(state.get("back", []))
    if not back:
        return dict(state)
    frm, to = back.pop()
    return {**set_range(state, frm, to, remember=False), "back": back}


def reset(state: Mapping) -> dict:
    """Back to the last relative preset (a double-click on a chart)."""
    return set_range(state, state.get("preset", DEFAULT_FROM), DEFAULT_TO)


def preset_of(state: Mapping) -> str | None:
    """The preset button to highlight: the state's "from" when it is a preset up to now."""
    return state["from"] if state["to"] == "now" and state["from"] in PRESET_LABELS else None


def window(state: Mapping, now: float | None = None, zone: str = UTC_NAME
           ) -> tuple[float, float]:
    """The state's range in epoch seconds ("/d" rounds to ``zone``'s days); ValueError names
    a bad end."""
    return resolve(state["from"], state["to"], time.time() if now is None else now,
                   zone_info(zone))


def live(state: Mapping) -> bool:
    """Whether the range follows the clock (live refresh makes sense)."""
    return is_relative(state["from"], state["to"])


def label(state: Mapping, now: float | None = None, zone: str = UTC_NAME) -> str:
    """What the picker shows: "Last 1 hour" or "2024-05-01 10:00:00 → … UTC (2h)", the
    times and the zone's name those of ``zone``."""
    frm, to = state["from"], state["to"]
    if to == "now" and frm in PRESET_LABELS:
        return PRESET_LABELS[frm]
    try:
        start, end = window(state, now, zone)
    except ValueError as exc:
        return str(exc)
    return (f"{wall_text(start, zone)} → {wall_text(end, zone)} {zone} "
            f"({human_duration(end - start)})")


def utc_text(epoch: float) -> str:
    """Epoch seconds as "YYYY-MM-DD HH:MM:SS" in UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_utc(epoch: float) -> str:
    """Epoch seconds as an ISO-8601 UTC string for the URL, to the second."""
    return datetime.fromtimestamp(round(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: live refresh intervals offered (seconds); a tab offers those not below its configured one
REFRESH_CHOICES = (1, 2, 5, 10, 15, 30, 60, 300, 900, 3600)


def refresh_choices(minimum: float) -> list[float]:
    """The refresh intervals a tab offers: its configured one first, then the longer ones.

    The server checks a chosen interval against this list, so a page cannot ask for a faster
    refresh than the configuration allows.
    """
    return [minimum, *(s for s in REFRESH_CHOICES if s > minimum)]


def chosen_refresh(value, minimum: float) -> float:
    """The refresh interval the browser chose, or Rejected when it is not on offer."""
    choices = refresh_choices(minimum)
    try:
        seconds = float(text(value, "refresh interval", most=20))
    except ValueError:
        seconds = math.nan
    if seconds not in choices:
        raise Rejected(f"refresh interval: {shown(value)} is not one of "
                       f"{', '.join(f'{c:g}' for c in choices)}")
    return seconds


def typed_range(frm, to, now: float | None = None, zone: str = UTC_NAME) -> tuple[str, str]:
    """The From and To boxes as state strings; ValueError names the end that is wrong.

    Relative expressions stay as typed ("now-7d/d", spaces dropped) so the range keeps
    following the clock; absolute times, read on ``zone``'s clock unless they name their
    offset, become ISO-8601 UTC to the second.
    """
    now = time.time() if now is None else now
    frm, to = _typed(frm, "from", now, zone), _typed(to, "to", now, zone)
    resolve(frm, to, now, zone_info(zone))
    return frm, to


def _typed(value, which: str, now: float, zone: str = UTC_NAME) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"type a '{which}' time, such as now-6h, now-7d/d or 2024-05-01 10:00")
    if len(value) > MAX_END:
        raise ValueError(f"'{which}' time: at most {MAX_END} characters")
    compact = value.strip().replace(" ", "")
    if compact.startswith("now"):
        resolve_one(compact, now, which)
        return compact
    return iso_utc(resolve_one(value, now, which, zone_info(zone)))


def typed_inputs(state: Mapping, now: float | None = None, zone: str = UTC_NAME
                 ) -> tuple[str, str]:
    """What the From and To boxes show: relative ends as they are, absolute ones on
    ``zone``'s clock."""
    now = time.time() if now is None else now
    return tuple(end if is_relative(end, end) else wall_text(
        resolve_one(end, now, which, zone_info(zone)), zone)
                 for end, which in ((state["from"], "from"), (state["to"], "to")))


def dates_typed(start_date, end_date) -> tuple[str | None, str | None]:
    """Days picked on the calendar as From / To text: the whole days, in UTC (None: unpicked)."""
    start = text(start_date, "from date", most=40)[:10] or None
    end = text(end_date, "to date", most=40)[:10] or None
    return (f"{start} 00:00:00" if start else None, f"{end} 23:59:59" if end else None)


# --- zoom: a chart's relayoutData → a range request --------------------------------------


def zoom_from_relayout(relayout, zone: str = UTC_NAME) -> dict | None:
    """{"from", "to"} for a drag-zoom, {"reset": True} for a double-click, else None.

    The chart's times are ``zone``'s wall clock (``query.timezone.wall_ms``); the range
    returned is UTC. Anything unreadable (the browser's relayoutData may be forged) is no
    zoom.
    """
    if not isinstance(relayout, Mapping) or not relayout:
        return None
    lo, hi = relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")
    if lo is None and isinstance(relayout.get("xaxis.range"), list | tuple):
        lo, hi = [*relayout["xaxis.range"], None, None][:2]
    if lo is not None and hi is not None:
        try:
            start, end = sorted((_plotly_time(lo, zone), _plotly_time(hi, zone)))
            return {"from": iso_utc(in_range(start, lo)), "to": iso_utc(
                in_range(max(end, start + 1), hi))}
        except (ValueError, TypeError, OverflowError, OSError):
            return None
    if relayout.get("xaxis.autorange"):
        return {"reset": True}
    return None


def checked_zoom(zoom) -> dict | None:
    """A zoom request read back from its store: {"reset": True}, {"from", "to"} or None."""
    if not isinstance(zoom, Mapping):
        return None
    if zoom.get("reset") is True:
        return {"reset": True}
    return {"from": _end(zoom.get("from"), "zoom from"), "to": _end(zoom.get("to"), "zoom to")}


def _plotly_time(value, zone: str = UTC_NAME) -> float:
    # plotly reports date-axis ranges as "YYYY-MM-DD HH:MM:SS.ffff" strings, in the axis' own
    # time (the zone's wall clock), or as epoch milliseconds when the figure gave numbers.
    if isinstance(value, bool):
        raise TypeError("not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("not a time")
        wall = datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    else:
        wall = datetime.fromisoformat(str(value)[:40].strip().replace(" ", "T").replace("Z", ""))
        wall = wall.replace(tzinfo=None)
    return wall.replace(tzinfo=UTC).timestamp() if zone == UTC_NAME else from_wall(wall, zone)


# --- URL: one query string shared by every tab, each tab owning its prefixed keys ---------


def url_params(search) -> dict[str, str]:
    """"?a=1&b=2" → {"a": "1", "b": "2"} (the last value wins; anything but text is empty)."""
    search = search if isinstance(search, str) else ""
    return dict(parse_qsl(search.lstrip("?"), keep_blank_values=True, max_num_fields=100))


def url_values(search, key: str) -> list[str]:
    """Every value ``key`` has in ``search`` ("?k=a&k=b" → ["a", "b"]), in order."""
    search = search if isinstance(search, str) else ""
    return [v for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True,
                                    max_num_fields=100) if k == key]


def with_params(search: str | None,
                updates: Mapping[str, str | Sequence[str] | None]) -> str:
    """``search`` with ``updates`` applied (None, "" or [] removes a key; a list repeats the
    key once per value); other keys are kept, repeated ones with all their values."""
    search = search if isinstance(search, str) else ""
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True,
                                max_num_fields=100):
        params.setdefault(key, []).append(value)
    for key, value in updates.items():
        values = [value] if isinstance(value, str) else list(value or [])
        values = [v for v in values if v not in (None, "")]
        if values:
            params[key] = values
        else:
            params.pop(key, None)
    return "?" + urlencode(params, doseq=True) if params else ""


def known_tab(name: str | None, tabs: Sequence[str]) -> str:
    """``name`` if it is one of ``tabs``, else the first: an unknown value would select none."""
    return name if name in tabs else tabs[0]


def state_params(prefix: str, state: Mapping) -> dict[str, str]:
    """The URL keys for a picker state: ``<prefix>.from`` and ``<prefix>.to``."""
    return {f"{prefix}.from": state["from"], f"{prefix}.to": state["to"]}


def state_from_url(prefix: str, search: str | None, state: Mapping) -> dict | None:
    """The state the URL asks for, if it names a valid range different from ``state``."""
    params = url_params(search)
    frm, to = params.get(f"{prefix}.from"), params.get(f"{prefix}.to", DEFAULT_TO)
    if not frm or [frm, to] == [state["from"], state["to"]]:
        return None
    try:
        resolve(frm, to, time.time())
    except ValueError:
        return None
    return set_range(state, frm, to, remember=False)

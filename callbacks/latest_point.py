"""A live Metrics panel's latest point: one instant query per scrape interval, shared.

The panel's range query is aligned to its step and cached for it (``timerange.live_ttl``),
so a live 7 d / 30 d chart would stop up to a step (2 h) short of now. When it does by a
scrape interval or more (``timerange.latest_instant``), the same expression is asked once
more, as an instant query at now floored to the scrape interval, and its samples become
each series' last point (``query.latest_point.joined``). A failing instant query leaves
the range drawn, with a note naming the upstream's error.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import NamedTuple

from datasources.cache import Result
from query.latest_point import joined
from query.timerange import Window, latest_instant
from query.timezone import UTC_NAME, zone_info


class Latest(NamedTuple):
    """The range's result with the latest point joined, how far the chart's x range reaches
    (epoch s; None: the window's end), and notes for the panel."""

    result: Result
    reach: float | None
    notes: list[str]


def added(deps, query: str, window: Window, state, result: Result,
          now: Callable[[], float] = time.time, zone: str = UTC_NAME) -> Latest:
    """``result`` (the panel's range answer) with its latest point, when the range needs one
    (a rounded "to" ends with ``zone``'s day)."""
    cfg = deps.config
    if result.value is None:
        return Latest(result, None, [])
    at = latest_instant(state["from"], state["to"], window, now(),
                        cfg.metrics.scrape_interval, zone_info(zone))
    if at is None:
        return Latest(result, None, [])
    # Every viewer asks this very instant for one scrape interval: one upstream call for all.
    answer = deps.prometheus.query(query, at, ttl=max(cfg.metrics.scrape_interval,
                                                      cfg.prometheus.cache_ttl))
    if answer.value is None:
        return Latest(result, None, [f"latest point: {answer.error.describe()}"])
    notes = [f"latest point: {answer.stale_badge()}"] if answer.stale else []
    return Latest(dataclasses.replace(result, value=joined(result.value, answer.value)), at,
                  notes)

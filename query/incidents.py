"""Outages from probe history: each run of failing probes of a service is one incident.

The history keeps probes as *runs*: consecutive probes of one service in the same state, none
further than ``gap`` seconds from the one before. An incident is a run in the failing state:

- it starts at the run's first probe and ends at the first probe of the run right after it
  (the first probe that did not fail) when that follows within ``gap``;
- with no run after it and its last probe within ``gap`` of now it is **ongoing**;
- otherwise the history has a gap after it (stackscope was not running, or not probing): its
  end was not observed, so it has no end and its duration is a lower bound, from its first to
  its last failing probe. Failures on both sides of a gap are two incidents: nobody watched
  in between, so the history does not claim the service stayed down.

Flapping (down, up, down …) gives one short incident per failing run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

FAILING = "down"


@dataclass(frozen=True)
class Probe:
    """One probe as the history keeps it."""

    name: str
    at: float
    state: str
    latency_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Run:
    """Consecutive probes of one service in one state, no two further apart than the gap."""

    name: str
    state: str
    start: float
    last: float
    detail: str = ""
    probes: int = 1


@dataclass(frozen=True)
class Incident:
    """One outage of one service."""

    name: str
    start: float
    #: the first probe that no longer failed; None while ongoing or when not observed
    end: float | None
    #: the last failing probe
    last: float
    detail: str
    probes: int
    ongoing: bool

    @property
    def unobserved_end(self) -> bool:
        """The history stops (a gap) before the service was seen again."""
        return self.end is None and not self.ongoing

    def duration(self, now: float) -> float:
        """Seconds down: to its end, to now while ongoing, to its last failing probe (at
        least that long) when its end was not observed."""
        until = self.end if self.end is not None else (now if self.ongoing else self.last)
        return max(0.0, until - self.start)


def continues(run: Run | None, state: str, at: float, gap: float) -> bool:
    """Whether a probe in ``state`` at ``at`` extends ``run`` rather than starting a new one."""
    return run is not None and run.state == state and 0 <= at - run.last <= gap


def runs_from_probes(probes: Iterable[Probe], gap: float) -> list[Run]:
    """Probes folded into runs, by service then time (the history's own rule)."""
    out: list[Run] = []
    for _, group in groupby(sorted(probes, key=lambda p: (p.name, p.at)), key=lambda p: p.name):
        run = None
        for p in group:
            if continues(run, p.state, p.at, gap):
                run = Run(run.name, run.state, run.start, p.at, run.detail, run.probes + 1)
                out[-1] = run
            else:
                run = Run(p.name, p.state, p.at, p.at, p.detail)
                out.append(run)
    return out


def incidents(runs: Iterable[Run], *, now: float, gap: float,
              limit: int | None = None) -> list[Incident]:
    """Every failing run as an incident, newest first, at most ``limit``.

    ``runs`` must hold, for each failing run, the run right after it when there is one.
    """
    out = []
    for _, group in groupby(sorted(runs, key=lambda r: (r.name, r.start)), key=lambda r: r.name):
        ordered = list(group)
        for i, run in enumerate(ordered):
            if run.state == FAILING:
                out.append(_incident(run, ordered[i + 1] if i + 1 < len(ordered) else None,
                                     now, gap))
    out.sort(key=lambda inc: (inc.start, inc.name), reverse=True)
    return out if limit is None else out[:limit]


def _incident(run: Run, after: Run | None, now: float, gap: float) -> Incident:
    ended = after is not None and 0 <= after.start - run.last <= gap
    ongoing = after is None and now - run.last <= gap
    return Incident(run.name, run.start, after.start if ended else None, run.last, run.detail,
                    run.probes, ongoing)


def down_since(run: Run | None) -> float | None:
    """When the current outage began: the newest run's start when it is a failing one."""
    return run.start if run is not None and run.state == FAILING else None


def duration_text(seconds: float) -> str:
    """A span as a person reads it: '40 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def csv_columns(rows: Sequence[Incident], now: float, clock) -> dict[str, list]:
    """The incidents as CSV columns (``clock`` formats a timestamp)."""
    return {
        "service": [r.name for r in rows],
        "start_utc": [clock(r.start) for r in rows],
        "end_utc": [clock(r.end) if r.end is not None else end_word(r) for r in rows],
        "duration_s": [f"{r.duration(now):.0f}" for r in rows],
        "failed_probes": [str(r.probes) for r in rows],
        "detail": [r.detail for r in rows],
    }


def end_word(r: Incident) -> str:
    """What stands in the end column of an incident without an observed end."""
    return "ongoing" if r.ongoing else "not observed (history gap)"

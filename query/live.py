"""Live refresh by difference: what a live chart holds, and the edits that bring it up to date.

A live panel ("last 1 h") moves by a step or two between refreshes. Instead of the whole
figure, the browser gets per line: points dropped at the left edge, a few re-sent at the
right, new ones appended (``layouts.metrics`` writes them as a Dash ``Patch``). The browser
keeps a small record of what it holds next to the chart; from that record and the new lines
the server works out the edits, so it keeps nothing per viewer.

Why re-send the right end: a point near "now" can still change (a scrape is stamped when it
starts and stored when it ends; a target that stops gets its stale marker a scrape later), so
points newer than ``revise`` seconds before the window's end are replaced on every refresh.
Older points are settled: the same instant gives the same value in every window, because
windows are aligned to their step (``timerange.plan``).

Pure functions over the ``(x, y)`` arrays of ``query.chart.Line`` (epoch ms, NaN gaps).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

#: past this many points dropped from one line, the whole figure is sent (a long jump)
MAX_DROPS = 200

XY = tuple[np.ndarray, np.ndarray]


class Edit(NamedTuple):
    """One line's edit: drop ``left`` points at the start and ``right`` at the end, then
    append ``x``, ``y``."""

    left: int
    right: int
    x: np.ndarray
    y: np.ndarray

    @property
    def empty(self) -> bool:
        return not (self.left or self.right or len(self.x))


def signature(*parts: Any) -> str:
    """A short digest of everything but the points: when it changes, only a redraw will do."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def record(sig: str, start: float, end: float, lines: Sequence[XY], revise: float,
           reach: float | None = None) -> dict:
    """What the browser holds once it shows ``lines`` over ``[start, end]`` (JSON-ready).

    Per line: its length, how many leading points are settled (through the last finite
    point at least ``revise`` s before ``end``: the anchor), the anchor's x, and a digest
    of the points after it. ``reach``: where the x axis ends when a latest point lies past
    ``end`` (else ``end``); such a point is after the anchor, so always re-sent.
    """
    cut = (end - revise) * 1000
    traces = []
    for x, y in lines:
        settled = np.flatnonzero(np.isfinite(y) & (x <= cut))
        keep = int(settled[-1]) + 1 if len(settled) else 0
        anchor = float(x[keep - 1]) if keep else None
        traces.append([len(x), keep, anchor, _digest(x[keep:], y[keep:])])
    return {"sig": sig, "start": start, "end": end,
            "reach": end if reach is None else max(end, reach), "traces": traces}


def edits(held, now: Mapping, lines: Sequence[XY]) -> list[Edit] | None:
    """The edits turning the chart ``held`` describes into ``lines`` (recorded as ``now``).

    None when only the whole figure will do: no or a malformed record, another signature
    (query, step, series or their styles changed), an anchor the new lines do not have, or
    a jump dropping more than ``MAX_DROPS`` points from a line. A held line with no settled
    point (a series seen only lately, such as one whose only point is a live range's latest
    one, ``query.latest_point``) is sent again whole, within the patch.
    """
    traces = _held_traces(held, now["sig"], len(lines))
    if traces is None:
        return None
    out = []
    for (n, keep, anchor, digest), (x, y) in zip(traces, lines, strict=True):
        edit = _edit(n, keep, anchor, digest, x, y)
        if edit is None:
            return None
        out.append(edit)
    return out


def _edit(n: int, keep: int, anchor: float | None, digest: str, x: np.ndarray,
          y: np.ndarray) -> Edit | None:
    if anchor is None:  # nothing settled: the whole line again, unless it is unchanged
        if n > MAX_DROPS:
            return None
        if _digest(x, y) == digest:
            return Edit(0, 0, x[:0], y[:0])
        return Edit(0, n, x, y)
    j = int(np.searchsorted(x, anchor))
    if j >= len(x) or x[j] != anchor or not np.isfinite(y[j]):
        return None
    # The held points through the anchor are the new line's through it, after ``left`` that
    # fell off the left edge (a gap's NaN marker at the new start among them: a fresh line
    # never starts with one).
    left, right = keep - (j + 1), n - keep
    if left < 0 or left + right > MAX_DROPS:
        return None
    tail_x, tail_y = x[j + 1:], y[j + 1:]
    if left == 0 and _digest(tail_x, tail_y) == digest:
        return Edit(0, 0, tail_x[:0], tail_y[:0])
    return Edit(left, right, tail_x, tail_y)


def _held_traces(held, sig: str, count: int) -> list[tuple] | None:
    """The record's lines if it is one, for ``sig``, with ``count`` lines; else None."""
    if not isinstance(held, Mapping) or held.get("sig") != sig:
        return None
    traces = held.get("traces")
    if not isinstance(traces, list) or len(traces) != count:
        return None
    checked = [_held_trace(t) for t in traces]
    return None if any(t is None for t in checked) else checked


def _held_trace(trace) -> tuple | None:
    # Sent back by the browser, so possibly forged: a bad one only costs a whole figure.
    if not isinstance(trace, list) or len(trace) != 4:
        return None
    n, keep, anchor, digest = trace
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, keep)):
        return None
    if not 0 <= keep <= n or not isinstance(digest, str):
        return None
    if keep == 0:  # no settled point, so no anchor
        return (n, 0, None, digest) if anchor is None else None
    if not isinstance(anchor, (int, float)) or isinstance(anchor, bool) or not math.isfinite(
            anchor):
        return None
    return n, keep, float(anchor), digest


def _digest(x: np.ndarray, y: np.ndarray) -> str:
    data = np.ascontiguousarray(x, dtype="<f8").tobytes() + np.ascontiguousarray(
        y, dtype="<f8").tobytes()
    return hashlib.blake2b(data, digest_size=8).hexdigest()

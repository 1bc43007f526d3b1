"""query.live: edits that turn a held chart into a fresh one, on lines with holes and NaN."""

from __future__ import annotations

import numpy as np
import pytest

from query import chart, live

STEP = 10.0  # seconds
SPAN = 600.0


def series(seed: int) -> dict[float, float]:
    """Samples on the 10 s grid over an hour: holes of 1 to 6 steps, some NaN values."""
    rng = np.random.default_rng(seed)
    times = np.arange(0, 3600, STEP)
    keep = rng.random(len(times)) > 0.25
    values = rng.normal(100, 10, len(times))
    values[rng.random(len(times)) < 0.05] = np.nan
    return {float(t): float(v) for t, v, k in zip(times, values, keep, strict=True) if k}


def fresh(samples: dict[float, float], end: float) -> tuple[np.ndarray, np.ndarray]:
    """The line a fresh draw of ``[end - SPAN, end]`` shows (``query.chart``'s gaps)."""
    t = np.array([s for s in sorted(samples) if end - SPAN <= s <= end])
    y = np.array([samples[s] for s in t])
    return chart.with_gaps(t * 1000, np.where(np.isfinite(y), y, np.nan), STEP * 1000)


def applied(held: list, edit: live.Edit) -> list:
    kept = held[:len(held) - edit.right][edit.left:]
    return kept + list(zip(edit.x.tolist(), edit.y.tolist(), strict=True))


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        xa == xb and (ya == yb or (np.isnan(ya) and np.isnan(yb))) for (xa, ya), (xb, yb)
        in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", range(8))
def test_held_line_edited_tick_by_tick_equals_the_fresh_one(seed):
    samples = series(seed)
    rng = np.random.default_rng(100 + seed)
    end = SPAN
    x, y = fresh(samples, end)
    held, record = list(zip(x, y, strict=True)), live.record("s", end - SPAN, end, [(x, y)], 30)
    patched = 0
    while end < 3500:
        end += STEP * int(rng.integers(1, 6))
        x, y = fresh(samples, end)
        now = live.record("s", end - SPAN, end, [(x, y)], 30)
        edits = live.edits(record, now, [(x, y)])
        if edits is None:  # no settled finite point to anchor on: a whole redraw
            held = list(zip(x, y, strict=True))
        else:
            held, patched = applied(held, edits[0]), patched + 1
        record = now
        assert same(held, list(zip(x.tolist(), y.tolist(), strict=True))), end
    assert patched > 80  # of about 97 ticks


def test_nothing_to_send_when_the_window_did_not_move():
    x, y = fresh(series(1), 1200)
    record = live.record("s", 600, 1200, [(x, y)], 30)
    [edit] = live.edits(record, record, [(x, y)])
    assert edit.empty


@pytest.mark.parametrize("held", [
    None, [], "x", {"sig": "other", "traces": []}, {"sig": "s", "traces": "x"},
    {"sig": "s", "traces": [[3, 1, 1.0]]}, {"sig": "s", "traces": [[3, 5, 1.0, "d"]]},
    {"sig": "s", "traces": [[3, 1, float("nan"), "d"]]},
    {"sig": "s", "traces": [[3, True, 1.0, "d"]]}, {"sig": "s", "traces": [[3, 0, 1.0, "d"]]},
    {"sig": "s", "traces": [[3, -1, None, "d"]]},
    {"sig": "s", "traces": [[3, 1, 1.0, "d"], [3, 1, 1.0, "d"]]},
])
def test_a_missing_foreign_or_forged_record_asks_for_the_whole_figure(held):
    x, y = fresh(series(2), 1200)
    assert live.edits(held, live.record("s", 600, 1200, [(x, y)], 30), [(x, y)]) is None


SCRAPE = 3.0


def with_latest(samples: dict[float, float], now: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The window's end and the line a fresh live draw shows at ``now``: the aligned window,
    then the latest point at now floored to the scrape interval when the window lags by one."""
    end = now // STEP * STEP
    t = np.array([s for s in sorted(samples) if end - SPAN <= s <= end])
    y = np.array([samples[s] for s in t])
    if now - end >= SCRAPE:
        at = now // SCRAPE * SCRAPE
        t, y = np.append(t, at), np.append(y, np.sin(at))  # a value per instant
    return end, *chart.with_gaps(t * 1000, np.where(np.isfinite(y), y, np.nan), STEP * 1000)


@pytest.mark.parametrize("seed", range(4))
def test_a_latest_point_past_the_window_is_replaced_tick_by_tick_never_kept(seed):
    samples = series(seed)
    rng = np.random.default_rng(200 + seed)
    now = SPAN + 1
    end, x, y = with_latest(samples, now)
    held = list(zip(x.tolist(), y.tolist(), strict=True))
    record = live.record("s", end - SPAN, end, [(x, y)], SCRAPE)
    patched = 0
    while now < 3500:
        now += SCRAPE * int(rng.integers(1, 4)) + float(rng.uniform(0, 1))
        end, x, y = with_latest(samples, now)
        current = live.record("s", end - SPAN, end, [(x, y)], SCRAPE)
        edits = live.edits(record, current, [(x, y)])
        if edits is None:
            held = list(zip(x.tolist(), y.tolist(), strict=True))
        else:
            held, patched = applied(held, edits[0]), patched + 1
        record = current
        assert same(held, list(zip(x.tolist(), y.tolist(), strict=True))), now
        xs = [p[0] for p in held]
        assert xs == sorted(set(xs)), now  # no duplicate, no point out of order
    assert patched > 200


def test_a_line_with_no_settled_point_is_sent_again_whole_within_the_patch():
    # A series seen only in the last scrape interval (a live range's latest point alone).
    x, y = np.array([1195e3]), np.array([1.0])
    held = live.record("s", 600, 1190, [(x, y)], 30)
    assert held["traces"][0][1:3] == [0, None]
    [same_line] = live.edits(held, held, [(x, y)])
    assert same_line.empty
    x2, y2 = np.array([1195e3, 1198e3]), np.array([1.5, 2.0])
    [edit] = live.edits(held, live.record("s", 600, 1190, [(x2, y2)], 30), [(x2, y2)])
    assert (edit.left, edit.right, edit.x.tolist(), edit.y.tolist()) == (
        0, 1, x2.tolist(), y2.tolist())

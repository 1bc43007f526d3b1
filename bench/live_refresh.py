"""Live refresh: upstream calls per viewer call, and bytes per refresh answer.

50 viewers watch the same 9 live panels ("last 1 hour" at 700 px: a 10 s step, 3 series
each) on a real Prometheus, refreshing every 5 s at random phases, for 2 simulated minutes;
and 50 viewers watch the Status tab (refresh every 3 s). Time is simulated (the cache's
clock and the windows' "now" move by hand; every query still goes to Prometheus and every
probe to a real port), so the run takes seconds and repeats exactly.

Baseline, measured in the same run: the whole-figure refresh as before — each answer the
whole figure (base64 typed arrays), the panel's key reused for ``prometheus.cache_ttl``
(4 s); Status viewers each reading the round through the 2 s probe throttle.
Ours: ``timerange.live_ttl`` keys and ``layouts.metrics.live_chart`` answers (a Patch, or
nothing within a step); Status viewers reading the background prober's round.

    python bench/live_refresh.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dash import no_update  # noqa: E402
from dash._utils import to_json  # noqa: E402

from config import Service, Upstream  # noqa: E402
from datasources.cache import Cache  # noqa: E402
from datasources.history import ProbeHistory  # noqa: E402
from datasources.prometheus import Prometheus  # noqa: E402
from datasources.status import StatusSource  # noqa: E402
from layouts import metrics as view  # noqa: E402
from query.timerange import live_ttl, plan  # noqa: E402
from stack import services  # noqa: E402

VIEWERS, PANELS, SECONDS = 50, 9, 120
REFRESH, STATUS_REFRESH, CACHE_TTL, STATUS_TTL = 5.0, 3.0, 4.0, 2.0
WIDTH, SCRAPE = 700, 15.0
START = 1_796_000_000.0  # any instant: the panels' series exist at every step


def panel_query(k: int) -> str:
    """Three series with ~17 significant digits at every step, like real rates."""
    parts = [f'label_replace(sin(vector(time()) / 600 + {k}) * 100 + 100, "s", "a", "", "")',
             f'label_replace(cos(vector(time()) / 900 + {k}) * 50 + 60, "s", "b", "", "")',
             f'label_replace(vector(time()) % 97 / 7 + {k}, "s", "c", "", "")']
    return " or ".join(parts)


class Clock:
    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at


class CountingSession(requests.Session):
    """Counts the calls that reach the upstream."""

    calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        return super().request(*args, **kwargs)


def ticks(refresh: float, seed: int) -> list[tuple[float, int]]:
    """(time, viewer) of every refresh, viewers at random phases, in time order."""
    rng = random.Random(seed)
    phases = [rng.uniform(0, refresh) for _ in range(VIEWERS)]
    out = [(START + p + i * refresh, v) for v, p in enumerate(phases)
           for i in range(int(SECONDS / refresh))]
    return sorted(out)


def metrics_run(url: str, workdir: Path, ours: bool) -> dict:
    clock, session = Clock(START), CountingSession()
    prom = Prometheus(Upstream("Prometheus", url, timeout=10, cache_ttl=CACHE_TTL),
                      Cache(workdir / ("ours" if ours else "base"), now=clock), session=session)
    held: dict[tuple[int, int], dict] = {}
    first, sizes = [], []  # bytes of one viewer's answer (all panels): first draw, refreshes
    calls, seen = 0, set()
    for at, viewer in ticks(REFRESH, seed=1):
        clock.at, size, drawn = at, 0, viewer in seen
        seen.add(viewer)
        for k in range(PANELS):
            size += panel_answer(prom, k, at, held, viewer, ours)
            calls += 1
        (sizes if drawn else first).append(size)
    return {"upstream": session.calls, "viewer_calls": calls,
            "bytes": sum(sizes) / len(sizes), "first": sum(first) / len(first)}


def panel_answer(prom, k: int, now: float, held: dict, viewer: int, ours: bool) -> int:
    """Bytes of one panel's answer to one viewer's refresh."""
    window = plan(now - 3600, now, max_data_points=WIDTH)
    query = panel_query(k)
    ttl = live_ttl(window.step, REFRESH, CACHE_TTL) if ours else None
    result = prom.query_range(query, window.start, window.end, window.step, ttl=ttl)
    if not ours:
        return len(to_json(view.figure(result.value, window, revision="now-1h|now")[0]))
    fig, _, record = view.live_chart(result.value, window, held.get((viewer, k)),
                                     revision="now-1h|now", query=query, revise=SCRAPE)
    if record is not no_update:
        held[(viewer, k)] = record
    # The answer carries the patch (or nothing) and the record the browser keeps.
    return 0 if fig is no_update else len(to_json(fig)) + len(to_json(record))


def status_run(port: int, workdir: Path, ours: bool) -> dict:
    clock, rounds = Clock(START), []

    def counted(svcs):
        from datasources.probes import probe_all
        rounds.append(clock.at)
        return probe_all(svcs)

    src = StatusSource([Service("Prometheus", "tcp", port, timeout=1.0)],
                       Cache(workdir / ("s-ours" if ours else "s-base"), now=clock),
                       ProbeHistory(workdir / f"h-{ours}.sqlite3"), ttl=STATUS_TTL,
                       probe_round=counted, interval=STATUS_REFRESH)
    events = [(at, "viewer") for at, _ in ticks(STATUS_REFRESH, seed=2)]
    if ours:  # the served app's background prober
        events += [(START + i * STATUS_REFRESH, "prober")
                   for i in range(int(SECONDS / STATUS_REFRESH))]
    calls = 0
    for at, who in sorted(events):
        clock.at = at
        if who == "prober":
            src.snapshot()
        else:
            calls += 1
            (src.latest() if ours else src.snapshot())
    return {"upstream": len(rounds), "viewer_calls": calls}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = services.scrape_config({"prometheus": [services.SELF_ADDRESS]}, interval="15s")
        with services.start_prometheus(workdir / "prom", config_yaml=config) as prom:
            base, ours = (metrics_run(prom.url, workdir, o) for o in (False, True))
            s_base, s_ours = (status_run(prom.port, workdir, o) for o in (False, True))
    report(base, ours, s_base, s_ours)
    return 0


def report(base, ours, s_base, s_ours) -> None:
    def per(r):
        return r["viewer_calls"] / max(r["upstream"], 1)

    def one_in(r):
        return f"1 / {per(r):.1f}"

    print(f"{VIEWERS} viewers, {PANELS} live panels (1 h, {WIDTH} px: 10 s step), refresh "
          f"{REFRESH:g} s, {SECONDS} s simulated")
    print("| what | baseline (whole figure) | ours (patch) | baseline / ours |")
    print("| --- | --- | --- | --- |")
    print(f"| upstream query_range calls per viewer call | {one_in(base)} | {one_in(ours)} | "
          f"{per(ours) / per(base):.1f}× fewer |")
    print(f"| upstream query_range calls | {base['upstream']} | {ours['upstream']} | |")
    print(f"| bytes per refresh answer, {PANELS} panels | {base['bytes']:,.0f} | "
          f"{ours['bytes']:,.0f} | {base['bytes'] / max(ours['bytes'], 1):.0f}× smaller |")
    print(f"| bytes of the first draw, {PANELS} panels | {base['first']:,.0f} | "
          f"{ours['first']:,.0f} | {base['first'] / ours['first']:.2f}× |")
    print(f"| Status: probe rounds per viewer call | {one_in(s_base)} | {one_in(s_ours)} | "
          f"{per(s_ours) / per(s_base):.1f}× fewer |")

if __name__ == "__main__":
    raise SystemExit(main())

"""A live 7 d / 30 d panel's latest point: upstream calls per minute, and how old its last
point is, without (baseline) and with the instant query of ``callbacks.latest_point``.

One and ten viewers refresh a live panel every 5 s at random phases for 60 simulated
minutes on a real Prometheus (scrape interval 15 s). Time is simulated (the cache's clock
and the windows' "now" move by hand; every query still goes to Prometheus), so the run
takes about a minute and repeats exactly. The panel's series has a value at any instant
(``vector(time())``), so the lag measured is the chart's, not the data's.

    python bench/latest_point.py
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.live_refresh import Clock  # noqa: E402
from callbacks import latest_point  # noqa: E402
from config import Upstream  # noqa: E402
from datasources.cache import Cache  # noqa: E402
from datasources.prometheus import Prometheus  # noqa: E402
from query.timerange import live_ttl, plan  # noqa: E402
from stack import services  # noqa: E402

REFRESH, SCRAPE, CACHE_TTL, MINUTES = 5.0, 15.0, 4.0, 60
START = 1_796_000_123.0  # any instant, not aligned to a step
QUERY = ('label_replace(vector(time()), "s", "a", "", "") or '
         'label_replace(vector(time()) % 97, "s", "b", "", "")')
CASES = (("7d", 100), ("7d", 1000), ("30d", 1000))  # range, points (a panel's pixels)
DAYS = {"7d": 7, "30d": 30}


class CountingSession(requests.Session):
    """Counts the calls that reach the upstream, by API path."""

    def __init__(self):
        super().__init__()
        self.calls: dict[str, int] = {}

    def request(self, method, url, *args, **kwargs):
        path = url.rsplit("/api/v1/", 1)[-1]
        self.calls[path] = self.calls.get(path, 0) + 1
        return super().request(method, url, *args, **kwargs)


def run(url: str, cache_dir: Path, span: str, points: int, viewers: int, ours: bool):
    """(step, upstream calls by path, lag of the last point at each viewer refresh)."""
    clock, session = Clock(START), CountingSession()
    prom = Prometheus(Upstream("Prometheus", url, timeout=10, cache_ttl=CACHE_TTL),
                      Cache(cache_dir, now=clock), session=session)
    deps = SimpleNamespace(prometheus=prom, config=SimpleNamespace(
        metrics=SimpleNamespace(scrape_interval=SCRAPE),
        prometheus=SimpleNamespace(cache_ttl=CACHE_TTL)))
    rng = random.Random(1)
    phases = [rng.uniform(0, REFRESH) for _ in range(viewers)]
    ticks = sorted(START + p + i * REFRESH for p in phases
                   for i in range(int(MINUTES * 60 / REFRESH)))
    state, lags, step = {"from": f"now-{span}", "to": "now"}, [], 0.0
    for at in ticks:
        clock.at = at
        window = plan(at - DAYS[span] * 86400, at, max_data_points=points)
        step = window.step
        result = prom.query_range(QUERY, window.start, window.end, window.step,
                                  ttl=live_ttl(window.step, REFRESH, CACHE_TTL))
        if ours:
            result = latest_point.added(deps, QUERY, window, state, result, now=clock).result
        lags.append(at - result.value["timestamp"].max().timestamp())
    return step, session.calls, lags


def main() -> int:
    print(f"live panel, refresh {REFRESH:g} s, scrape interval {SCRAPE:g} s, {MINUTES} "
          "simulated minutes; upstream calls per minute for the panel (all its viewers)")
    print("| range, points | viewers | step | baseline: query_range | ours: query_range + "
          "query | last point's age, baseline: mean / max | ours: mean / max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = services.scrape_config({"prometheus": [services.SELF_ADDRESS]},
                                        interval="15s")
        with services.start_prometheus(work / "prom", config_yaml=config) as proc:
            for n, (span, points) in enumerate(CASES):
                for viewers in (1, 10):
                    step, base, base_lags = run(proc.url, work / f"b{n}-{viewers}", span,
                                                points, viewers, ours=False)
                    _, ours, lags = run(proc.url, work / f"o{n}-{viewers}", span, points,
                                        viewers, ours=True)
                    print(f"| {span}, {points} | {viewers} | {step:g} s | "
                          f"{base.get('query_range', 0) / MINUTES:.2f} | "
                          f"{ours.get('query_range', 0) / MINUTES:.2f} + "
                          f"{ours.get('query', 0) / MINUTES:.2f} | "
                          f"{_age(base_lags)} | {_age(lags)} |")
    return 0


def _age(lags: list[float]) -> str:
    return f"{sum(lags) / len(lags):,.1f} s / {max(lags):,.1f} s"


if __name__ == "__main__":
    raise SystemExit(main())

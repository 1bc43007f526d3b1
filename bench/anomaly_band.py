"""What the expected band costs, computed two ways on the demo's week in a real Prometheus.

The band of a 7 d panel needs the same query on the 7 days before each point
(``query.compare.expected_bands``). Two ways to get them:

- **baseline: one query per past day** — the window shifted back 1 … 7 days (what PromQL's
  ``offset`` gives; ``offset`` applies to selectors only, so a whole panel expression is shifted
  by its start and end instead), the 8 answers lined up in pandas;
- **ours: one query** over the window plus the 7 days before it, cut up in pandas.

Both on the demo's error-rate and latency panels at the 7 d range (a 10 min step), uncached
(``force``), the median of 7 runs each. Prints seconds and the ratio ours / baseline, and
exits 1 unless both give the same band.

    python -m bench.anomaly_band
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from query import compare, panels
from query.timerange import plan
from stack import history, services

DAY, DAYS, RUNS = 86_400, 7, 7
PANELS = ("error-rate", "latency")


def start_prometheus(directory: str):
    end = time.time()
    text = history.generate(end, history.Targets("127.0.0.1:18000", "127.0.0.1:19100"))
    config = services.scrape_config({"prometheus": [services.SELF_ADDRESS]}, interval="15s")
    return services.start_prometheus(directory, config_yaml=config, history=[text],
                                     max_block_duration="172h", retention="30d")


def shifted_way(prom: Prometheus, query: str, window) -> pd.DataFrame:
    """The window itself and each past day as its own query, on one timeline (day k lives k
    days before; where two answers overlap they hold the same samples)."""
    parts = [prom.query_range(query, window.start - k * DAY, window.end - k * DAY,
                              window.step, force=True).value for k in range(DAYS + 1)]
    return pd.concat(parts, ignore_index=True).drop_duplicates(["timestamp", "series"])


def one_query_way(prom: Prometheus, query: str, window) -> pd.DataFrame:
    return prom.query_range(query, window.start - DAYS * DAY, window.end, window.step,
                            force=True).value


def timed(fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp, start_prometheus(tmp) as proc:
        prom = Prometheus(Upstream("Prometheus", proc.url, 30.0, 0.01), Cache(tmp + "/c"))
        now = time.time()
        window = plan(now - 7 * DAY, now, max_data_points=1000)
        print(f"7 d window, step {window.step:g} s, {DAYS} past days; median of {RUNS} runs")
        print(f"{'panel':<12}{'baseline: 8 queries':>22}{'ours: 1 query':>16}{'ratio':>8}")
        for slug in PANELS:
            panel = next(p for p in panels.configured(()) if p.slug == slug)
            query = panels.expand(panel.query, step=window.step, scrape_interval=15)

            def band(frame):
                return compare.expected_bands(frame, window.start, window.end, window.step,
                                              days=DAYS, mads=4)

            base_s, base_bands = timed(lambda q=query: band(shifted_way(prom, q, window)))
            ours_s, our_bands = timed(lambda q=query: band(one_query_way(prom, q, window)))
            same = all(np.allclose(a.median, b.median, equal_nan=True)
                       for a, b in zip(base_bands, our_bands, strict=True))
            ok &= same
            print(f"{slug:<12}{base_s:>20.3f} s{ours_s:>14.3f} s{ours_s / base_s:>7.2f}x"
                  + ("" if same else "  BANDS DIFFER"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The seed panels loaded cold at 1 hour and at 7 days from a real Prometheus holding a week.

    python bench/panels_cold.py [--rounds N]

Writes the demo stack's week of history (``stack.history``, as ``make run`` does, with one
real node_exporter scrape for the node series) into a fresh Prometheus on loopback, then, per
round and range, loads every seed panel whose metrics exist with an empty cache: the query
through ``datasources.prometheus.Prometheus`` (fetch, framing, cache) and the figure
(``layouts.metrics.figure``), one panel after another. Prints each panel's median, the
total and the 7 d / 1 h ratio, and, as the latency panel's baseline in the same run, its three
quantiles as three separate queries.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from config import Upstream  # noqa: E402
from datasources.cache import Cache  # noqa: E402
from datasources.prometheus import Prometheus  # noqa: E402
from layouts import metrics as view  # noqa: E402
from query import panels  # noqa: E402
from query.timerange import plan  # noqa: E402
from stack import history, services  # noqa: E402

SPANS = {"1 h": 3600, "7 d": 7 * 86_400}
MAX_DATA_POINTS = 1000  # metrics.max_data_points' default
SCRAPE_INTERVAL = 15  # metrics.scrape_interval's default
#: the latency seed's quantiles, each as its own query: the one-round-trip panel's baseline
SEPARATE = [f"histogram_quantile({q}, sum by (le, job) (rate(http_request_duration_seconds_bucket"
            '{job=~"$job", instance=~"$instance"}[$__rate_interval])))' for q in (0.5, 0.95, 0.99)]


@contextlib.contextmanager
def prometheus_with_history(tmp: Path):
    """A Prometheus holding the demo week (plus an hour) ending a minute ago; yields its URL."""
    with services.start_node_exporter(tmp / "node") as node:
        scrape = requests.get(node.url + "/metrics", timeout=10).text
        targets = history.Targets(api="127.0.0.1:8000", node=f"{node.host}:{node.port}")
    end = time.time() // 60 * 60 - 60
    text = history.generate(end, targets, scrape)
    hours = int(history.DEFAULT_DAYS * 24) + 2
    with services.start_prometheus(tmp / "prom", config_yaml=services.scrape_config({}),
                                   history=[text], retention="30d",
                                   max_block_duration=f"{hours}h") as prom:
        yield prom.url, end


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def load_panel(prom: Prometheus, query: str, window, unit: str = "", legend: str = "") -> None:
    """One cold panel load: query (fetch, framing, cache) and figure."""
    text = panels.expand(query, step=window.step, scrape_interval=SCRAPE_INTERVAL)
    result = prom.query_range(text, window.start, window.end, window.step)
    if result.value is None:
        raise SystemExit(f"{query[:60]}…: {result.error.describe()}")
    view.figure(result.value, window, unit=unit, legend=legend)


def load_separately(prom: Prometheus, window) -> None:
    for query in SEPARATE:
        load_panel(prom, query, window)


def one_round(url: str, end: float, shown, tmp: Path, r: int) -> dict:
    """Every panel and the separate quantiles, cold, at each span."""
    out = {}
    for label, span in SPANS.items():
        window = plan(end - span, end, max_data_points=MAX_DATA_POINTS)
        cache = Cache(tmp / f"cache-{r}-{span}")  # empty: every query goes to Prometheus
        prom = Prometheus(Upstream("Prometheus", url, timeout=60, cache_ttl=60), cache)
        for p in shown:
            out[label, p.slug] = timed(load_panel, prom, p.query, window, p.unit, p.legend)
        out[label, "latency as 3 queries"] = timed(load_separately, prom, window)
        cache.close()
    return out


def report(runs: list[dict], shown) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    slugs = [p.slug for p in shown]
    print(f"\n{'ms (median)':24}" + "".join(f"{s:>9}" for s in SPANS) + f"{'ratio':>9}")
    for slug in [*slugs, "latency as 3 queries"]:
        a, b = (med[s, slug] for s in SPANS)
        print(f"{slug:24}{a * 1e3:9.1f}{b * 1e3:9.1f}{b / a:8.2f}x")
    totals = [sum(med[s, slug] for slug in slugs) for s in SPANS]
    print(f"{f'{len(slugs)} panels, one by one':24}{totals[0] * 1e3:9.1f}{totals[1] * 1e3:9.1f}"
          f"{totals[1] / totals[0]:8.2f}x")
    if "latency" in slugs:
        for s, total in zip(SPANS, totals, strict=True):
            one, three = med[s, "latency"], med[s, "latency as 3 queries"]
            print(f"at {s}: latency panel {one / total:.0%} of the total; one query "
                  f"{one * 1e3:.1f} ms vs three {three * 1e3:.1f} ms ({one / three:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-panels-") as tmp, \
            prometheus_with_history(Path(tmp)) as (url, end):
        names = Prometheus(Upstream("Prometheus", url, timeout=30, cache_ttl=60),
                           Cache(Path(tmp) / "names")).label_values("__name__").value
        shown = panels.available(panels.SEEDS, set(names))
        print(f"{len(shown)} seed panels have their metrics: {', '.join(p.slug for p in shown)}")
        one_round(url, end, shown, Path(tmp), -1)  # warm-up: imports, Prometheus' caches
        runs = [one_round(url, end, shown, Path(tmp), r) for r in range(args.rounds)]
    report(runs, shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

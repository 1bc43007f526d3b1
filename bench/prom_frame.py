"""Framing a real 10 MB Prometheus range body: ours vs prometheus-api-client vs orjson.loads.

    python bench/prom_frame.py

Backfills 200 series × 1 440 one-minute samples into a fresh TSDB, starts a real Prometheus on
it (loopback, free port, temp dir), fetches the range body once, then times in one run and on
the same bytes:
  baseline  prometheus-api-client's MetricRangeDataFrame (given orjson's parse, its best case)
  floor     orjson.loads alone (any framing must at least parse the JSON)
  ours      datasources.prometheus.frame_from_response
Prints both ratios and exits 1 unless ours is ≥ 4× faster than the baseline and within 1.5×
of orjson.loads.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import requests  # noqa: E402
from prometheus_api_client import MetricRangeDataFrame  # noqa: E402

from datasources.prometheus import build_range_request, frame_from_response  # noqa: E402
from stack import services  # noqa: E402
from stack.openmetrics import Family, Series, openmetrics  # noqa: E402

SERIES, POINTS, STEP = 200, 1440, 60
ROUNDS = 7
MIN_SPEEDUP, MAX_OVER_ORJSON = 4.0, 1.5


def cpu_family(end: int) -> Family:
    """200 node-like series; values with many digits, as rates and ratios really have."""
    k = np.arange(POINTS)
    times = end - (POINTS - 1 - k) * STEP
    family = Family("bench_cpu_seconds")
    for i in range(SERIES):
        labels = {"cpu": str(i % 8), "instance": f"host-{i // 8:02d}:9100", "job": "node",
                  "mode": ("user", "system", "iowait", "idle")[i % 4]}
        values = ((i * 7919 + k * 104_729) % 1_000_003) / 997
        family.series.append(Series("bench_cpu_seconds", labels, times, values))
    return family


def fetch_body(tmp: Path) -> bytes:
    """The range body, from a real Prometheus serving the backfilled series."""
    end = int(time.time()) // 3600 * 3600 - 3600
    config = services.scrape_config({}, interval="15s")
    with services.start_prometheus(tmp / "prom", config_yaml=config, retention="10d",
                                   history=[openmetrics([cpu_family(end)])],
                                   max_block_duration="48h") as proc:
        params = build_range_request("bench_cpu_seconds", end - (POINTS - 1) * STEP, end, STEP)
        resp = requests.post(proc.url + "/api/v1/query_range", data=params, timeout=60)
        resp.raise_for_status()
        return resp.content


def baseline(body: bytes):
    return MetricRangeDataFrame(orjson.loads(body)["data"]["result"])


def timed(fn, body: bytes) -> float:
    gc.collect()
    started = time.perf_counter()
    fn(body)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-prom-") as tmp:
        body = fetch_body(Path(tmp))
    ours = frame_from_response(body)
    assert len(ours) == SERIES * POINTS == len(baseline(body)), "bodies differ from the plan"
    runs = {"baseline": [], "orjson": [], "ours": []}
    fns = {"baseline": baseline, "orjson": orjson.loads, "ours": frame_from_response}
    for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits all three alike
        for name, fn in fns.items():
            runs[name].append(timed(fn, body))
    med = {name: statistics.median(times) for name, times in runs.items()}
    speedup, over = med["baseline"] / med["ours"], med["ours"] / med["orjson"]
    print(f"body: {len(body) / 1e6:.1f} MB, {SERIES} series x {POINTS} points, "
          f"median of {ROUNDS} interleaved rounds")
    for name, label in (("baseline", "MetricRangeDataFrame (+orjson.loads)"),
                        ("orjson", "orjson.loads"), ("ours", "frame_from_response")):
        print(f"  {label:38} {med[name] * 1000:8.1f} ms")
    print(f"ours vs MetricRangeDataFrame: {speedup:.1f}x faster (need >= {MIN_SPEEDUP:g}x)")
    print(f"ours vs orjson.loads:         {over:.2f}x its time (need <= {MAX_OVER_ORJSON:g}x)")
    ok = speedup >= MIN_SPEEDUP and over <= MAX_OVER_ORJSON
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

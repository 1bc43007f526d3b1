"""The cache on Redis against the cache on diskcache: hits, single flight, Redis down.

    .venv/bin/python -m bench.cache_backends [--gets 2000] [--threads 32] [--rounds 20]

Starts a redis-server on a free loopback port in a temp dir (``stack.services``), then, for
each backend, measures in this one process:
- a hit: ``Cache.get`` of a key answered inside its TTL, for a small value (a dict) and for a
  panel's frame (10 series x 720 points, as ``datasources.prometheus`` frames them);
- single flight: ``--threads`` threads asking for one cold key at once, the upstream taking
  50 ms; per round, the upstream calls (goal: 1) and the wall time until every thread has its
  answer (ideal: 50 ms);
- the upstream (a 5 ms fetch) asked through a cache whose Redis refuses connections, against
  the same fetch called directly: what a dead Redis adds to each call.
Baseline: the diskcache backend, measured in the same run; ratios are redis / diskcache.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from datasources.cache import Cache
from datasources.stores import RedisStore
from stack import services

UPSTREAM_S = 0.05


def frame() -> pd.DataFrame:
    """A panel's worth: 10 series x 720 points, column-wise with categorical labels."""
    n, points = 10, 720
    t = np.tile(np.arange(points, dtype="int64") * 5 + 1_800_000_000, n)
    return pd.DataFrame({
        "time": pd.to_datetime(t, unit="s", utc=True),
        "value": np.random.default_rng(15).random(n * points),
        "series": pd.Categorical(np.repeat([f'up{{instance="node-{i}"}}' for i in range(n)],
                                           points)),
    })


def hit_latency(cache: Cache, value, gets: int) -> tuple[float, float]:
    """Median and p95 of a hit, in microseconds."""
    key = f"hit:{uuid.uuid4().hex}"
    cache.get(key, lambda: value, ttl=3600, upstream="U")
    times = []
    for _ in range(gets):
        started = time.perf_counter()
        cache.get(key, lambda: value, ttl=3600, upstream="U")
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times), statistics.quantiles(times, n=20)[18]


def one_flight(cache: Cache, threads: int) -> tuple[int, float]:
    """Upstream calls and wall ms for ``threads`` threads asking for one cold key at once."""
    key, count, lock = f"sf:{uuid.uuid4().hex}", [0], threading.Lock()

    def fetch():
        with lock:
            count[0] += 1
        time.sleep(UPSTREAM_S)
        return 1

    go = threading.Barrier(threads + 1)

    def ask():
        go.wait()
        cache.get(key, fetch, ttl=3600, upstream="U", wait=5)

    pool = [threading.Thread(target=ask) for _ in range(threads)]
    for t in pool:
        t.start()
    go.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    return count[0], (time.perf_counter() - started) * 1000


def single_flight(cache: Cache, threads: int, rounds: int) -> tuple[float, float]:
    """Upstream calls per round (mean) and the median wall time of a round, in ms."""
    runs = [one_flight(cache, threads) for _ in range(rounds)]
    return statistics.mean(c for c, _ in runs), statistics.median(w for _, w in runs)


def down_overhead(gets: int) -> tuple[float, float]:
    """Median ms of a 5 ms fetch through a cache on a refused Redis, and called directly."""
    with socket.socket() as s:
        s.bind((services.LOCALHOST, 0))
        port = s.getsockname()[1]
    cache = Cache(store=RedisStore(f"redis://{services.LOCALHOST}:{port}/0"))

    def fetch():
        time.sleep(0.005)
        return 1

    through, direct = [], []
    for _ in range(gets):
        started = time.perf_counter()
        assert cache.get(uuid.uuid4().hex, fetch, ttl=60, upstream="U").ok
        through.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        fetch()
        direct.append((time.perf_counter() - started) * 1000)
    return statistics.median(through), statistics.median(direct)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gets", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    value_small, value_frame = {"status": "success", "n": 3}, frame()
    with tempfile.TemporaryDirectory() as tmp, services.start_redis(Path(tmp) / "redis") as rd:
        url = f"redis://{rd.host}:{rd.port}/0"
        caches = {"diskcache": Cache(Path(tmp) / "disk"),
                  "redis": Cache(store=RedisStore(url, secret="bench"))}
        rows: dict[str, dict[str, float]] = {}
        for name, cache in caches.items():
            small = hit_latency(cache, value_small, args.gets)
            big = hit_latency(cache, value_frame, args.gets // 4)
            calls, wall = single_flight(cache, args.threads, args.rounds)
            rows[name] = {"hit small p50 µs": small[0], "hit small p95 µs": small[1],
                          "hit frame p50 µs": big[0], "hit frame p95 µs": big[1],
                          f"single flight {args.threads} thr: upstream calls": calls,
                          f"single flight {args.threads} thr: wall ms": wall}
        through, direct = down_overhead(args.gets // 10)
    print(f"{'figure':<42} {'diskcache':>10} {'redis':>10} {'redis/disk':>10}")
    for figure in rows["diskcache"]:
        base, ours = rows["diskcache"][figure], rows["redis"][figure]
        print(f"{figure:<42} {base:>10.1f} {ours:>10.1f} {ours / base:>9.2f}×")
    print(f"Redis refusing: a 5 ms fetch takes {through:.2f} ms through the cache "
          f"({direct:.2f} ms direct, +{through - direct:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

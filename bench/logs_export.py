"""Whole-range CSV export of 1 000 000 log entries from the Loki double, through real HTTP paging.

Prints lines/s and peak RSS growth of the exporting process (budget: < 150 MB), and the same
for the named baseline measured in the same run — "naive": collect every page into one
DataFrame, then ``to_csv`` — with the ratios. The double runs in its own process; each export
runs in a fresh process so their memory figures do not mix.

    python bench/logs_export.py [--entries N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

T0 = 1_714_564_800 * 10**9
PAGE = 5_000
QUERY = '{env="bench"}'
BUDGET_MB = 150


# --- the double, in its own process ------------------------------------------------------------

def synthetic(n: int):
    """``n`` entries over 8 streams, 3 per timestamp; a metadata key appears halfway through."""
    import numpy as np

    streams = [{"app": ("api", "worker")[i % 2], "env": "bench", "pod": f"p{i}"}
               for i in range(8)]
    i = np.arange(n)
    ts = T0 + (i // 3) * 1_000_003
    sid = i % 8
    levels = ("info", "warning", "error", "debug")
    lines = [(f'{{"timestamp":"2024-05-01T12:00:00Z","level":"{levels[k % 4]}",'
              f'"logger":"api.tasks","message":"task {k} done","request_id":"req-{k:08d}",'
              f'"user_id":"{k % 97}"}}') if k % 2 else f"level={levels[k % 4]} job={k} ok"
             for k in range(n)]
    metadata = [None] * (n // 2) + [{"trace_id": f"{k:016x}"} if k % 5 == 0 else None
                                    for k in range(n // 2, n)]
    return ts, sid, streams, lines, metadata


def serve(n: int, conn, stop) -> None:
    from tests.loki_double import LokiDouble

    with LokiDouble() as double:
        double.load_columns(*synthetic(n))
        conn.send((double.url, int(double.data.ts[-1]) + 1))
        stop.wait()


# --- the measured exports, each in a fresh process ---------------------------------------------

def rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class PeakRSS:
    """Samples RSS every 5 ms in a thread; ``peak`` is the highest seen (and ru_maxrss)."""

    def __init__(self):
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def export(mode: str, url: str, end: int, out: str, conn) -> None:
    import pandas as pd

    from config import Upstream
    from datasources.cache import Cache
    from datasources.logs_export import export_csv
    from datasources.loki import Loki

    with tempfile.TemporaryDirectory() as tmp:
        loki = Loki(Upstream("Loki", url, 60.0, 30.0), Cache(Path(tmp) / "cache"))
        next(iter(loki.query_range_all(QUERY, T0, T0 + 1)), None)  # warm up imports, session
        before = rss()
        started = time.perf_counter()
        with PeakRSS() as peak:
            pages = loki.query_range_all(QUERY, T0, end, page_size=PAGE)
            if mode == "streamed":
                rows = export_csv(pages, out).rows
            else:
                frame = pd.concat(list(pages), ignore_index=True)
                frame.to_csv(out, index=False)
                rows = len(frame)
        seconds = time.perf_counter() - started
    conn.send({"rows": rows, "seconds": seconds, "growth": peak.peak - before,
               "bytes": os.path.getsize(out)})


def run(ctx, target, *args):
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(args.entries, child, stop), daemon=True)
    server.start()
    url, end = parent.recv()
    print(f"logs export: {args.entries:,} entries from the Loki double over HTTP "
          f"(pages of {PAGE:,}, 3 entries per timestamp, a column appears halfway)")
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("streamed", "naive"):
                results[mode] = run(ctx, export, mode, url, end, str(Path(tmp) / f"{mode}.csv"))
    finally:
        stop.set()
        server.join(10)
    return report(results, args.entries)


def report(results: dict, entries: int) -> int:
    names = {"streamed": "export_csv(query_range_all(…)), streamed",
             "naive": "baseline: concat all pages, then to_csv"}
    for mode, r in results.items():
        print(f"  {names[mode]:<44} {r['rows']:>9,} rows  {r['seconds']:6.1f} s  "
              f"{r['rows'] / r['seconds']:>8,.0f} lines/s  peak RSS growth "
              f"{r['growth'] / 2**20:7.1f} MB  ({r['bytes'] / 2**20:.0f} MB file)")
    s, n = results["streamed"], results["naive"]
    print(f"  ratio streamed/naive: time {s['seconds'] / n['seconds']:.2f}x, "
          f"peak RSS growth {s['growth'] / n['growth']:.3f}x")
    ok = s["rows"] == entries and s["growth"] < BUDGET_MB * 2**20
    print(f"  budget: every entry written and growth < {BUDGET_MB} MB: "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

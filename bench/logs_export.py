"""Whole-range CSV export of 1 000 000 log entries from Loki's API, through real HTTP paging.

Prints lines/s and peak RSS growth of the exporting process (budget: < 150 MB), and the same
for the named baseline measured in the same run — "naive": collect every page into one
DataFrame, then ``to_csv`` — with the ratios. The API (``stack.loki_api``) runs as a server
of its own (this script with ``--serve``, started by ``stack.services.start_server``); each
export runs in a fresh process so their memory figures do not mix.

    python bench/logs_export.py [--entries N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import signal
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


# --- Loki's API, a server of its own -----------------------------------------------------------

def stamp(i):
    """The timestamp (ns) of entry ``i``: three entries per instant."""
    return T0 + (i // 3) * 1_000_003


def synthetic(n: int):
    """``n`` entries over 8 streams, 3 per timestamp; a metadata key appears halfway through."""
    import numpy as np

    streams = [{"app": ("api", "worker")[i % 2], "env": "bench", "pod": f"p{i}"}
               for i in range(8)]
    i = np.arange(n)
    ts = stamp(i)
    sid = i % 8
    levels = ("info", "warning", "error", "debug")
    lines = [(f'{{"timestamp":"2024-05-01T12:00:00Z","level":"{levels[k % 4]}",'
              f'"logger":"api.tasks","message":"task {k} done","request_id":"req-{k:08d}",'
              f'"user_id":"{k % 97}"}}') if k % 2 else f"level={levels[k % 4]} job={k} ok"
             for k in range(n)]
    metadata = [None] * (n // 2) + [{"trace_id": f"{k:016x}"} if k % 5 == 0 else None
                                    for k in range(n // 2, n)]
    return ts, sid, streams, lines, metadata


def serve(n: int, port: int) -> None:
    """Serve ``synthetic(n)`` on ``port`` until SIGTERM; it listens once the set is loaded."""
    from stack.loki_api import LokiAPI

    with LokiAPI(port=port).load_columns(*synthetic(n)):
        signal.pause()


def start_api(n: int, directory: str):
    """This script with ``--serve`` as a server; ready once /ready answers."""
    from stack import services

    def launch(port: int):
        args = [sys.executable, str(Path(__file__).resolve()), "--entries", str(n), "--serve",
                "--port", str(port)]
        return services.start_server("loki_api", args, directory, port=port, timeout=600,
                                     url=f"http://127.0.0.1:{port}",
                                     ready=services.http_ready("/ready"))

    return services.start_with_port_retry(launch, None)


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
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.entries, args.port)
        return 0
    ctx = mp.get_context("spawn")
    end = stamp(args.entries - 1) + 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp, start_api(args.entries, tmp) as api:
        print(f"logs export: {args.entries:,} entries from Loki's API over HTTP "
              f"(pages of {PAGE:,}, 3 entries per timestamp, a column appears halfway)")
        for mode in ("streamed", "naive"):
            results[mode] = run(ctx, export, mode, api.url, end, str(Path(tmp) / f"{mode}.csv"))
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

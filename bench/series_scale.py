"""What a panel's cold load costs at 7 days for 10 and for 500 series, and framing's peak memory.

    python bench/series_scale.py [--rounds N]

Bodies are generated in the shape Prometheus writes (compact JSON, integer timestamps on the
step grid, values as Go's shortest decimal text) for the window ``timerange.plan`` gives a
7-day panel at ``metrics.max_data_points``, and served over real HTTP by a stub on loopback.
Each round times, on the same bytes, the four parts of a cold panel load:

  fetch    POST /api/v1/query_range through ``datasources.http.request``, body read
  framing  ``frame_from_response``
  figure   ``layouts.metrics.figure``
  cache    storing the frame through ``Cache.get`` (a new key each time)

for ours and for the named baseline, the tree before this work (``BASELINE``: its
``datasources/prometheus.py`` and ``query/chart.py`` read from git, so both run in the same
process on the same bodies). It prints medians, the 500/10 ratios, and the peak memory of
framing a ~75 MB body (500 series at a 140 s step), each method in a fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from config import Upstream  # noqa: E402
from datasources import prometheus as ours_prom  # noqa: E402
from datasources.cache import Cache  # noqa: E402
from datasources.http import make_session, request  # noqa: E402
from layouts import metrics as view  # noqa: E402
from query import chart as ours_chart  # noqa: E402
from query.timerange import plan  # noqa: E402

#: The tree before the array-based framing and charts (commit on branch main).
BASELINE = "6743987"
DAY = 86_400
END = 1_764_547_200
SIZES = (10, 500)
MAX_DATA_POINTS = 1000  # metrics.max_data_points' default
BIG_SERIES, BIG_STEP = 500, 140
LEGEND = "{{instance}} {{mode}}"
PARTS = ("fetch", "framing", "figure", "cache")
#: wall time, and the process's CPU time (steadier on a shared machine; leaves out I/O waits)
CLOCKS = ("wall", "CPU")


# --- bodies -----------------------------------------------------------------------------------

def matrix_body(series: int, times: np.ndarray, seed: int = 0) -> bytes:
    """A query_range body as Prometheus writes it: one node_cpu-like series per label set."""
    rng = np.random.default_rng(seed)
    stamps = [str(int(t)) for t in times]
    results = []
    for i in range(series):
        # repr() is the shortest round-trip text, as Go's 'f' -1 for values in this range
        values = map(repr, (rng.random(len(times)) * 10.0 ** (i % 7 - 3)).tolist())
        pairs = ",".join(f'[{t},"{v}"]' for t, v in zip(stamps, values, strict=True))
        metric = (f'{{"__name__":"node_cpu_seconds_total","cpu":"{i % 8}",'
                  f'"instance":"host-{i // 8:03d}:9100","job":"node",'
                  f'"mode":"{("user", "system", "iowait", "idle")[i % 4]}"}}')
        results.append(f'{{"metric":{metric},"values":[{pairs}]}}')
    return ('{"status":"success","data":{"resultType":"matrix","result":['
            + ",".join(results) + "]}}").encode()


def grid(window) -> np.ndarray:
    return np.arange(window.start, window.end + 1, window.step)


@contextlib.contextmanager
def serving(bodies: dict[str, bytes]):
    """A loopback stub answering POST /api/v1/query_range with ``bodies[query]``."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            form = dict(p.split("=", 1) for p in self.rfile.read(length).decode().split("&"))
            body = bodies[form["query"]]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- the baseline -----------------------------------------------------------------------------

def baseline_module(path: str) -> ModuleType:
    """``path`` as it was at ``BASELINE``, imported under a name of its own."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE}:{path}"],
                            check=True, capture_output=True, text=True).stdout
    name = "baseline_" + path.replace("/", "_").removesuffix(".py")
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    exec(compile(source, f"{BASELINE}:{path}", "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def chart_module(module: ModuleType):
    """``layouts.metrics`` drawing with ``module`` as its ``query.chart`` for a while."""
    before, view.chart = view.chart, module
    try:
        yield
    finally:
        view.chart = before


# --- one panel load, part by part ------------------------------------------------------------

def timed(fn, *args, **kwargs):
    """((wall s, CPU s of this process), what ``fn`` returned)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - wall, time.process_time() - cpu), out


def load(method, url: str, query: str, window, cache: Cache, key: str) -> dict[str, tuple]:
    """The four parts of one cold panel load with ``method`` = (prometheus module, chart)."""
    prom, chart = method
    upstream = Upstream("Prometheus", url, timeout=60, cache_ttl=60)
    session = make_session(upstream)
    params = prom.build_range_request(query, window.start, window.end, window.step)
    out = {}
    out["fetch"], resp = timed(lambda: request(session, upstream, "POST",
                                               "/api/v1/query_range", data=params).content)
    out["framing"], frame = timed(prom.frame_from_response, resp)
    with chart_module(chart):
        out["figure"], _ = timed(view.figure, frame, window, unit="s", legend=LEGEND)
    out["cache"], _ = timed(cache.get, key, lambda: frame, ttl=60, upstream="Prometheus")
    session.close()
    return out


def scale(rounds: int, methods: dict, tmp: Path) -> dict:
    """Median part times per method and size, rounds interleaved across both."""
    window = plan(END - 7 * DAY, END, max_data_points=MAX_DATA_POINTS)
    bodies = {f"s{n}": matrix_body(n, grid(window)) for n in SIZES}
    runs = {(m, n): [] for m in methods for n in SIZES}
    with serving(bodies) as url:
        cache = Cache(tmp / "cache")
        for r in range(-1, rounds):  # round -1 warms up (imports, first cache writes)
            for m, method in methods.items():
                for n in SIZES:
                    got = load(method, url, f"s{n}", window, cache, f"{m}:{n}:{r}")
                    if r >= 0:
                        runs[m, n].append(got)
        cache.close()
    print(f"7 d at step {window.step:g} s: {window.points} points a series; bodies "
          + ", ".join(f"{n} series {len(bodies[f's{n}']) / 1e6:.2f} MB" for n in SIZES))
    return {clock: {key: {p: statistics.median(r[p][c] for r in rs) for p in PARTS}
                    for key, rs in runs.items()}
            for c, clock in enumerate(CLOCKS)}


def report_scale(med: dict, methods, clock: str) -> None:
    print(f"\n{clock + ' ms (median)':22}" + "".join(f"{p:>9}" for p in PARTS)
          + f"{'frame+fig':>11}{'total':>9}")
    for m in methods:
        for n in SIZES:
            t = med[m, n]
            print(f"{m + f' {n} series':22}" + "".join(f"{t[p] * 1e3:9.1f}" for p in PARTS)
                  + f"{(t['framing'] + t['figure']) * 1e3:11.1f}{sum(t.values()) * 1e3:9.1f}")
    print("\n500/10 ratio          " + "".join(f"{p:>9}" for p in PARTS)
          + f"{'frame+fig':>11}{'total':>9}")
    for m in methods:
        small, big = med[m, SIZES[0]], med[m, SIZES[1]]
        ff = (big["framing"] + big["figure"]) / (small["framing"] + small["figure"])
        print(f"{m:22}" + "".join(f"{big[p] / small[p]:8.1f}x" for p in PARTS)
              + f"{ff:10.1f}x{sum(big.values()) / sum(small.values()):8.1f}x")
    for n in SIZES:
        b, o = med["baseline", n], med["ours", n]
        print(f"ours / baseline at {n} series: framing {o['framing'] / b['framing']:.2f}x, "
              f"figure {o['figure'] / b['figure']:.2f}x, total "
              f"{sum(o.values()) / sum(b.values()):.2f}x")


# --- peak memory of framing a big body, each method in a fresh process -----------------------

def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(method: str, path: str) -> None:
    """Frame the body at ``path`` with ``method``; print peak RSS growth in bytes and seconds."""
    prom = ours_prom if method == "ours" else baseline_module("datasources/prometheus.py")
    body = Path(path).read_bytes()
    prom.frame_from_response(matrix_body(2, np.arange(0, 600, 60)))  # imports and first calls
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _status("VmRSS")
    started = time.perf_counter()
    frame = prom.frame_from_response(body)
    elapsed = time.perf_counter() - started
    print(_status("VmHWM") - before, elapsed, len(frame))


def memory(tmp: Path) -> None:
    times = np.arange(END - 7 * DAY, END + 1, BIG_STEP)
    path = tmp / "big.json"
    path.write_bytes(matrix_body(BIG_SERIES, times))
    size = path.stat().st_size
    print(f"\nframing one {size / 1e6:.1f} MB body ({BIG_SERIES} series x {len(times)} "
          "points), each in a fresh process: peak RSS growth over the body already read")
    for method in ("baseline", "ours"):
        out = subprocess.run([sys.executable, __file__, "--memory-child", method, str(path)],
                             check=True, capture_output=True, text=True).stdout.split()
        peak, elapsed = int(out[0]), float(out[1])
        print(f"  {method:9} {peak / 1e6:7.1f} MB = {peak / size:.2f}x the body, "
              f"{elapsed * 1e3:.0f} ms, {int(out[2])} rows")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    methods = {"baseline": (baseline_module("datasources/prometheus.py"),
                            baseline_module("query/chart.py")),
               "ours": (ours_prom, ours_chart)}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        medians = scale(args.rounds, methods, Path(tmp))
        for clock in CLOCKS:
            report_scale(medians[clock], methods, clock)
        memory(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A Logs tab export through Dash's background-callback managers: in-process vs a Celery worker.

Both runs go the way a click on Export goes: the app's own export callback, handed to its
manager (``call_job_fn``), polled until ``result_ready``, its result read back — the local
``DiskcacheManager`` (a process forked per export, the baseline) and the ``CeleryManager`` on
a real Redis with ``celery -A app.celery_app worker`` (started once, before the clock runs).
The Loki API is ``bench/logs_export.py``'s synthetic set, served over HTTP. Prints seconds,
lines/s and the ratio worker/in-process.

    python bench/export_workers.py [--entries N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.logs_export import QUERY, T0, stamp, start_api  # noqa: E402


def write_config(directory: Path, loki_url: str, broker: str = "") -> Path:
    """A configuration for one run: its cache, the API as Loki, the broker if any."""
    path = directory / ("celery.toml" if broker else "local.toml")
    text = (f'[cache]\ndir = "{directory / "cache"}"\n\n[loki]\nurl = "{loki_url}"\n'
            f'timeout = 120\n\n[logs]\nmax_range = 3162240000\n')
    if broker:
        text += f'\n[exports]\nbroker = "{broker}"\n'
    path.write_text(text)
    return path


def export_once(manager, request: dict) -> tuple[float, dict]:
    """Seconds from hand-over to result, and the result (one export, as Export does)."""
    (key, job_fn), = manager.func_registry.items()
    key = f"{key}-{time.monotonic_ns()}"  # a fresh result key per run, as Dash's cache key
    started = time.perf_counter()
    job = manager.call_job_fn(key, job_fn, [1, request], {})
    while not manager.result_ready(key):
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    return seconds, manager.get_result(key, job)


def measure(config_path: Path, request: dict, runs: int) -> list[float]:
    """``runs`` exports through the app's manager for ``config_path``; their seconds."""
    from app import create_app
    from config import load_config

    app = create_app(load_config(str(config_path), env={}))
    manager = app._background_manager  # its one background callback: the export
    times = []
    for _ in range(runs):
        seconds, result = export_once(manager, request)
        status = str(result)
        assert "Exported" in status, status[:500]
        times.append(seconds)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from stack import services

    end = stamp(args.entries - 1) + 1
    request = {"at": time.time(), "query": QUERY, "start_ns": T0, "end_ns": end,
               "limit": 1000, "direction": "forward"}
    with tempfile.TemporaryDirectory() as tmp, start_api(args.entries, tmp) as api, \
            services.start_redis(Path(tmp) / "redis") as redis:
        broker = f"redis://{redis.host}:{redis.port}/0"
        local = write_config(Path(tmp), api.url)
        remote = write_config(Path(tmp), api.url, broker)
        env = dict(os.environ, STACKSCOPE_CONFIG=str(remote))
        worker_args = [str(Path(sys.executable).parent / "celery"), "-A", "app.celery_app",
                       "worker", "--concurrency", "2", "--loglevel", "INFO",
                       "--without-gossip", "--without-mingle"]
        print(f"logs export through the background-callback manager: {args.entries:,} "
              f"entries, {args.runs} runs each")
        results = {"in-process (DiskcacheManager, baseline)": measure(local, request, args.runs)}
        with services.start_server("celery", worker_args, Path(tmp) / "worker", cwd=REPO,
                                   env=env, ready=services.log_ready(" ready."), timeout=120):
            results["Celery worker (CeleryManager, Redis)"] = measure(remote, request,
                                                                      args.runs)
    for name, times in results.items():
        best, median = min(times), statistics.median(times)
        print(f"  {name:<42} best {best:6.2f} s  median {median:6.2f} s  "
              f"{args.entries / median:>9,.0f} lines/s")
    base, worker = (statistics.median(t) for t in results.values())
    print(f"  ratio worker/in-process (median): {worker / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

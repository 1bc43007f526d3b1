"""Logs tab exports on Celery (``exports.broker``): a real Redis, a real worker process.

The worker is ``celery -A app.celery_app worker`` started from the repository on the same
configuration file as the page's app, as an operator would start it; it is stopped after
each test. The page's server process forks no export process of its own.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from stack import services
from stack.poll import until
from tests.browser.test_logs import backend_loki, export_workers, logs_toml, open_logs, run_query

__all__ = ["backend_loki"]  # a fixture, used by name

REPO = Path(__file__).resolve().parents[2]


def celery_toml(loki_url: str, redis) -> str:
    return logs_toml(loki_url) + f'\n[exports]\nbroker = "redis://{redis.host}:{redis.port}/0"\n'


def start_worker(config, directory: Path) -> services.Proc:
    """``celery -A app.celery_app worker`` on ``config``'s file: two pool processes."""
    env = dict(os.environ, STACKSCOPE_CONFIG=config.source)
    args = [str(Path(sys.executable).parent / "celery"), "-A", "app.celery_app", "worker",
            "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    return services.start_server("celery", args, directory, cwd=REPO, env=env,
                                 ready=services.log_ready(" ready."), timeout=90)


@contextlib.contextmanager
def worker_and_page(dash_duo, config, directory: Path):
    """Start the worker and open the Logs tab at once (each takes seconds); the worker."""
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(start_worker, config, directory)
        try:
            open_logs(dash_duo, config)
        finally:
            worker = starting.result()
    with worker:
        yield worker


def pool_processes(worker: services.Proc) -> list[int]:
    """The worker's pool processes (prefork children)."""
    return [c.pid for c in psutil.Process(worker.popen.pid).children()]


def test_export_runs_on_a_celery_worker_and_downloads(dash_duo, write_config, backend_loki,
                                                      redis_server, tmp_path):
    config = write_config(celery_toml(backend_loki.url, redis_server))
    with worker_and_page(dash_duo, config, tmp_path / "worker") as worker:
        run_query(dash_duo, '{env="prod"}')
        dash_duo.find_element("#logs-export").click()
        dash_duo.wait_for_contains_text("#logs-export-status", "Exported", timeout=90)
        status = dash_duo.find_element("#logs-export-status").text
        assert status.startswith(f"Exported {len(backend_loki.entries):,} entries, "), status
        assert not export_workers()  # nothing forked here: the worker ran it
        log = worker.log_path.read_text()
        assert "background_callback_" in log and "succeeded" in log
    path = until(lambda: list(Path(dash_duo.download_path).glob("logs-*.csv")), timeout=20)[0]
    with open(path, newline="", encoding="utf-8") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == len(backend_loki.entries)
    assert dash_duo.get_logs() == []


def test_cancel_stops_the_export_on_the_worker_and_removes_its_file(dash_duo, write_config,
                                                                   black_hole, redis_server,
                                                                   tmp_path):
    host, port = black_hole  # Loki accepts the connection and never answers
    config = write_config(celery_toml(f"http://{host}:{port}", redis_server)
                          .replace("[loki]\n", "[loki]\ntimeout = 30\n"))
    with worker_and_page(dash_duo, config, tmp_path / "worker") as worker:
        before = set(pool_processes(worker))
        export_button = dash_duo.find_element("#logs-export")
        export_button.click()
        cancel = dash_duo.find_element("#logs-export-cancel")
        until(lambda: cancel.is_enabled() and not export_button.is_enabled())
        folder = Path(config.cache.dir) / "exports"
        reserved = until(lambda: list(folder.glob("logs-*.csv")), timeout=30,
                         message="the export's file, made on the worker")
        # its progress, the file's name with it, has come back through Redis to the page
        until(lambda: dash_duo.find_element("#logs-export-rate").text == "0 rows · 0/s")
        cancel.click()
        until(lambda: export_button.is_enabled() and not cancel.is_enabled(), timeout=10)
        dash_duo.wait_for_text_to_equal("#logs-export-status",
                                        "Export cancelled; its partial file was removed.")
        assert not any(p.exists() for p in reserved) and not list(folder.glob("*.part"))
        # The pool process running it was terminated (and replaced) well before Loki's 30 s.
        until(lambda: not before <= set(pool_processes(worker)), timeout=10,
              message="the export's pool process terminated")
        assert "failed" not in dash_duo.find_element("#logs-export-status").text
    assert dash_duo.get_logs() == []

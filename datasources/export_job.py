"""One whole-range log export: Loki's pager → progress → ``logs_export.export_csv``.

Shared by the Logs tab's background callback and ``python app.py export-logs``. The pager
and the CSV writer are the Loki helper's (``Loki.query_range_all``, ``export_csv``); this
module adds what both front ends need around them: progress with pages and time covered,
file names under the cache directory, and clearing out old exports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from datasources.logs_export import ExportSummary, export_csv, progress_fraction
from datasources.loki import MAX_ENTRIES, Loki

#: Finished exports older than this are deleted when a new one starts.
KEEP_SECONDS = 24 * 3600
#: A half-written ``.part`` untouched this long belongs to an export that was cancelled
#: (its worker killed) or crashed: a live one writes to it continuously.
ABANDONED_SECONDS = 600


@dataclass
class Progress:
    """How far an export has got."""

    rows: int = 0
    pages: int = 0
    current_ns: int | None = None
    elapsed: float = 0.0
    fraction: float = 0.0

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


def tracked(pages: Iterable[pd.DataFrame], start_ns: int, end_ns: int, direction: str,
            report: Callable[[Progress], None],
            clock: Callable[[], float] = time.monotonic) -> Iterator[pd.DataFrame]:
    """``pages`` unchanged; ``report`` is called once each page has been consumed."""
    started, progress = clock(), Progress()
    for page in pages:
        yield page
        progress.pages += 1
        progress.rows += len(page)
        if len(page):
            ns = page["timestamp"].array.asi8
            progress.current_ns = int(ns.max() if direction == "forward" else ns.min())
            progress.fraction = progress_fraction(progress.current_ns, start_ns, end_ns,
                                                  direction)
        progress.elapsed = clock() - started
        report(progress)


def run_export(loki: Loki, query: str, start_ns: int, end_ns: int, direction: str,
               out: str | os.PathLike, *, redact=(), page_size: int = MAX_ENTRIES,
               report: Callable[[Progress], None] = lambda p: None) -> ExportSummary:
    """Every entry of ``[start, end)`` to ``out``; raises the datasource error family."""
    pages = loki.query_range_all(query, start_ns, end_ns, direction=direction,
                                 page_size=page_size)
    return export_csv(tracked(pages, start_ns, end_ns, direction, report), out, redact=redact)


def for_worker(loki: Loki) -> Loki:
    """A copy with its own HTTP session, for a forked worker (pooled sockets are not shared)."""
    return Loki(loki.upstream, loki.cache, max_entries=loki.max_entries)


# --- files ------------------------------------------------------------------------------

#: the URL path under which the app serves finished exports (``app.add_routes``)
ROUTE = "/exports/"


def exports_dir(cache_dir: str | os.PathLike) -> Path:
    """``<cache dir>/exports``, created when missing."""
    path = Path(cache_dir) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_name(start_ns: int, end_ns: int) -> str:
    """``logs-20240501T120000Z-20240501T130000Z.csv``: the range, readable and sortable."""
    def stamp(ns: int) -> str:
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ns // 10**9))
    return f"logs-{stamp(start_ns)}-{stamp(end_ns)}.csv"


def unique_path(directory: Path, name: str) -> Path:
    """``directory/name``, or with ``-2``, ``-3`` … when taken; reserved as an empty file.

    Creating the file (``"x"``: fails if it exists) is the reservation, atomic across
    processes, so two exports of one range never share a name or a ``.part`` file; the
    writer's rename of ``<name>.part`` replaces it when the export completes.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    path, n = directory / name, 2
    while True:
        try:
            with open(path, "x"):
                return path
        except FileExistsError:
            path, n = directory / f"{stem}-{n}{suffix}", n + 1


def prune(directory: Path, *, keep_seconds: float = KEEP_SECONDS,
          now: Callable[[], float] = time.time) -> int:
    """Delete exports older than ``keep_seconds`` and abandoned ``.part`` files."""
    removed = 0
    for path in directory.iterdir():
        limit = ABANDONED_SECONDS if path.name.endswith(".part") else keep_seconds
        try:
            if path.is_file() and now() - path.stat().st_mtime > limit:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another export pruned it first
    return removed

"""One whole-range log export: Loki's pager → progress → ``logs_export.export_csv``.

Shared by the Logs tab's background callback and ``python app.py export-logs``. The pager
and the CSV writer are the Loki helper's (``Loki.query_range_all``, ``export_csv``); this
module adds what both front ends need around them: progress with pages and time covered,
file names under the cache directory, clearing out old exports, and the queue that keeps the
Logs tab's exports (each in its own worker process) to a few at a time.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import diskcache
import pandas as pd
import psutil

from datasources.logs_export import ExportSummary, export_csv, progress_fraction
from datasources.loki import MAX_ENTRIES, Loki
from query.rate_limit import exports_ahead

#: Finished exports older than this are deleted when a new one starts (``exports.keep``).
KEEP_SECONDS = 900
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


def exports_dir(cache_dir: str | os.PathLike, chosen: str | os.PathLike = "") -> Path:
    """``chosen`` (``exports.dir``: a volume shared with Celery workers), else
    ``<cache dir>/exports``; created when missing."""
    path = Path(chosen) if chosen else Path(cache_dir) / "exports"
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


#: The names ``export_name`` and ``unique_path`` give: nothing else is ever removed by name.
_EXPORT_NAME = re.compile(r"logs-\d{8}T\d{6}Z-\d{8}T\d{6}Z(-\d+)?\.csv")


def discard(directory: Path, name: str | None) -> bool:
    """Remove what a cancelled export left of ``name``: its ``.part`` and its reserved (still
    empty) file. A finished file (not empty) is kept: a name from an earlier export may still
    await its download. True when something was removed."""
    if not name or not _EXPORT_NAME.fullmatch(name):
        return False
    removed = False
    reserved, partial = directory / name, directory / (name + ".part")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
        removed = True
    with contextlib.suppress(FileNotFoundError):
        if reserved.stat().st_size == 0:
            reserved.unlink()
            removed = True
    return removed


def remove(path: str | os.PathLike) -> None:
    """Delete a handed-over export (gone already is fine)."""
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


# --- the queue ----------------------------------------------------------------------------

class QueueFull(Exception):
    """Too many exports are waiting already."""


class ExportQueue:
    """At most ``running`` exports at once across processes; the rest wait in arrival order.

    The Logs tab's background callbacks each run in their own process, so the tickets live in
    a small diskcache in the cache directory, changed in transactions (SQLite locks the file
    across processes). A ticket whose process is gone — a cancelled export's worker is
    killed, so its ``finally`` never runs — or that stopped reporting for ``stale`` seconds
    is dropped by whichever export looks next.
    """

    def __init__(self, directory: str | os.PathLike, *, running: int = 2, queued: int = 8,
                 poll: float = 0.25, stale: float = ABANDONED_SECONDS,
                 pid: Callable[[], int] = os.getpid, now: Callable[[], float] = time.time):
        self.directory, self.running, self.queued = Path(directory), running, queued
        self.poll, self.stale, self.pid, self.now = poll, stale, pid, now

    @contextlib.contextmanager
    def slot(self, waiting: Callable[[int], None] = lambda ahead: None):
        """Wait for a turn (``waiting(ahead)`` while queued), run, then give the slot back."""
        with diskcache.Cache(str(self.directory)) as store:
            ticket = self._join(store)
            try:
                while not self._start(store, ticket):
                    waiting(self._ahead(store, ticket))
                    time.sleep(self.poll)
                yield lambda: self._touch(store, ticket)
            finally:
                self._leave(store, ticket)

    def states(self) -> dict[int, str]:
        """Ticket → "running" or "waiting" (live tickets only)."""
        with diskcache.Cache(str(self.directory)) as store, store.transact():
            return {t: r["state"] for t, r in self._live(store).items()}

    def _join(self, store) -> int:
        with store.transact():
            tickets = self._live(store)
            waiting = sum(1 for r in tickets.values() if r["state"] == "waiting")
            if waiting >= self.queued:
                raise QueueFull(f"{waiting} exports are waiting already (exports.max_queued = "
                                f"{self.queued}): try again when one has finished")
            ticket = store.incr("next")
            tickets[ticket] = {"pid": self.pid(), "state": "waiting", "seen": self.now()}
            store.set("tickets", tickets)
        return ticket

    def _start(self, store, ticket: int) -> bool:
        with store.transact():
            tickets = self._live(store)
            mine = tickets.setdefault(ticket, {"pid": self.pid(), "state": "waiting"})
            mine["seen"] = self.now()
            states = {t: r["state"] for t, r in tickets.items()}
            if exports_ahead(states, ticket) < self.running:
                mine["state"] = "running"
            store.set("tickets", tickets)
            return mine["state"] == "running"

    def _ahead(self, store, ticket: int) -> int:
        with store.transact():
            return exports_ahead({t: r["state"] for t, r in self._live(store).items()}, ticket)

    def _touch(self, store, ticket: int) -> None:
        with store.transact():
            tickets = store.get("tickets", {})
            if ticket in tickets:
                tickets[ticket]["seen"] = self.now()
                store.set("tickets", tickets)

    def _leave(self, store, ticket: int) -> None:
        with store.transact():
            tickets = store.get("tickets", {})
            tickets.pop(ticket, None)
            store.set("tickets", tickets)

    def _live(self, store) -> dict[int, dict]:
        tickets = store.get("tickets", {})
        return {t: r for t, r in tickets.items()
                if _alive(r["pid"]) and self.now() - r["seen"] <= self.stale}


def _alive(pid: int) -> bool:
    # A killed worker may linger as a zombie until its parent reaps it: that is gone too.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False

"""Persisted probe history: per-minute buckets in SQLite, kept for 7 days, survives restarts.

Buckets rather than raw rounds: a 3 s refresh is 200 000 rounds a week per service; per-minute
buckets are 10 080, so 7-day uptime stays a cheap query.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from datasources.probes import ProbeResult

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 86400
WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, up INTEGER NOT NULL,
    latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL, PRIMARY KEY (name, minute)
) WITHOUT ROWID
"""
_UPSERT = """
INSERT INTO buckets VALUES (?, ?, 1, ?, ?, ?)
ON CONFLICT (name, minute) DO UPDATE SET n = n + 1, up = up + excluded.up,
    latency_sum = latency_sum + excluded.latency_sum, latency_n = latency_n + excluded.latency_n
"""


class ProbeHistory:
    """Uptime and latency history of probed services, stored beside the cache."""

    def __init__(self, path: str | Path, *, now: Callable[[], float] = time.time):
        self.path = Path(path)
        self.now = now
        self._lock = threading.Lock()

    def record(self, results: Iterable[ProbeResult]) -> None:
        """Add one probe round to the minute buckets and drop what is older than 7 days."""
        rows = [(r.name, int(r.checked_at // 60), int(r.up), r.latency_ms or 0.0,
                 int(r.latency_ms is not None)) for r in results]
        horizon = int((self.now() - KEEP_SECONDS) // 60)

        def write(db):
            db.executemany(_UPSERT, rows)
            db.execute("DELETE FROM buckets WHERE minute < ?", (horizon,))
        self._run(write)

    def uptime(self, names: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """Uptime ratio (0..1, None without data) per service over 1 h, 24 h and 7 d."""
        out: dict[str, dict[str, float | None]] = {n: dict.fromkeys(WINDOWS) for n in names}
        sinces = [int((self.now() - seconds) // 60) for seconds in WINDOWS.values()]
        # One pass over the 7-day buckets for all three windows.
        sums = ", ".join("SUM(CASE WHEN minute >= ? THEN up END), "
                         "SUM(CASE WHEN minute >= ? THEN n END)" for _ in sinces)
        args = [x for since in sinces for x in (since, since)]
        rows = self._run(lambda db: db.execute(
            f"SELECT name, {sums} FROM buckets WHERE minute >= ? GROUP BY name",
            (*args, min(sinces))).fetchall()) or []
        for name, *pairs in rows:
            if name in out:
                for i, label in enumerate(WINDOWS):
                    up, n = pairs[2 * i], pairs[2 * i + 1]
                    out[name][label] = up / n if n else None
        return out

    def latency(self, names: Sequence[str], minutes: int = 60
                ) -> dict[str, list[tuple[int, float]]]:
        """Average latency per minute over the last ``minutes``: (minute start, ms) pairs."""
        since = int(self.now() // 60) - minutes + 1
        rows = self._run(lambda db: db.execute(
            "SELECT name, minute, latency_sum / latency_n FROM buckets "
            "WHERE minute >= ? AND latency_n > 0 ORDER BY name, minute", (since,)).fetchall())
        out: dict[str, list[tuple[int, float]]] = {n: [] for n in names}
        for name, minute, ms in rows or []:
            if name in out:
                out[name].append((minute * 60, ms))
        return out

    def _run(self, op):
        """Run ``op`` on a fresh connection; a corrupted or vanished file is rebuilt, not fatal."""
        with self._lock:
            for attempt in range(2):
                try:
                    return self._once(op)
                except sqlite3.OperationalError as exc:  # locked, read-only, disk full …
                    log.warning("probe history %s unavailable: %s", self.path, exc)
                    return None
                except sqlite3.DatabaseError as exc:  # not a database, malformed
                    log.warning("probe history %s corrupted (%s); starting afresh", self.path, exc)
                    if attempt == 0:
                        self.path.unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("probe history %s unavailable: %s", self.path, exc)
                    return None
        return None

    def _once(self, op):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5)
        try:
            with db:
                db.execute(_SCHEMA)
                return op(db)
        finally:
            db.close()

"""Persisted probe history: per-minute buckets in SQLite, kept for 7 days, survives restarts.

Buckets rather than raw rounds: a 3 s refresh is 200 000 rounds a week per service; per-minute
buckets are 10 080. Each bucket also holds its service's running totals (probes and ups in
every kept bucket up to and including this one), so the probes of a window are the newest
bucket's totals minus those just before the window's first bucket: two index seeks, whatever
the history's length, where summing a week of buckets grew with it. Pruning drops the oldest
buckets whole, which leaves every difference between kept buckets as it was. The figures are
the ones the sums gave: same buckets, same minute-aligned windows.

Reads take no lock of ours: the file is in WAL mode (a reader sees the last committed round,
whole, and never waits for the writer) and each call borrows a connection from an idle list.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from datasources.probes import MAINTENANCE, PENDING, ProbeResult
from query.incidents import Incident, Probe, Run, continues, incidents
from query.probe_state import FAILING, state

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 86400
#: raw probes (the heartbeat bar, the first minutes' response-time chart) are kept this long
KEEP_RECENT_SECONDS = 3600
#: probes further apart than this (s) are not one stretch of watching: stackscope was off
GAP_SECONDS = 60.0
WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
#: idle connections kept for reuse; more concurrent calls open (and then close) their own
POOL_SIZE = 16
#: PRAGMA user_version of the schema: 0 the first (``buckets``, no totals), 1 running totals,
#: 2 adds states (pending and maintenance counts, each service's state, its changes)
SCHEMA_VERSION = 2

_MINUTES = """CREATE TABLE minutes (
    name TEXT NOT NULL, minute INTEGER NOT NULL, n INTEGER NOT NULL, up INTEGER NOT NULL,
    latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL,
    n_total INTEGER NOT NULL, up_total INTEGER NOT NULL, PRIMARY KEY (name, minute)
) WITHOUT ROWID"""
# Version 2's columns, added to version 1's table in place (old buckets had no maintenance).
_V2_COLUMNS = ("pending INTEGER NOT NULL DEFAULT 0", "maint INTEGER NOT NULL DEFAULT 0",
               "maint_total INTEGER NOT NULL DEFAULT 0")
_V2_TABLES = (
    # Each service's state now: how many failures in a row (for retries) and since when.
    """CREATE TABLE IF NOT EXISTS states (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL, failures INTEGER NOT NULL,
    detail TEXT NOT NULL) WITHOUT ROWID""",
    # One row per change of state: incidents (down since, for how long) are read from it.
    """CREATE TABLE IF NOT EXISTS changes (
    name TEXT NOT NULL, at REAL NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (name, at)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS changes_by_at ON changes (at)",
)
# The first schema's buckets, totals added: running sums in minute order, per service.
_MIGRATE = """
INSERT INTO minutes (name, minute, n, up, latency_sum, latency_n, n_total, up_total)
SELECT name, minute, n, up, latency_sum, latency_n,
    SUM(n) OVER running, SUM(up) OVER running FROM buckets
WINDOW running AS (PARTITION BY name ORDER BY minute)
"""
_TOTAL_BEFORE = ("SELECT {0} FROM minutes WHERE name = :name AND minute < :minute "
                 "ORDER BY minute DESC LIMIT 1")
# A new bucket starts from the totals of the bucket before it ("WHERE true": SQLite's rule for
# an upsert fed by a SELECT).
_ADD = f"""
INSERT INTO minutes (name, minute, n, up, latency_sum, latency_n, n_total, up_total,
                     pending, maint, maint_total)
SELECT :name, :minute, 1, :up, :ms, :has_ms,
    1 + COALESCE(({_TOTAL_BEFORE.format("n_total")}), 0),
    :up + COALESCE(({_TOTAL_BEFORE.format("up_total")}), 0),
    :pending, :maint, :maint + COALESCE(({_TOTAL_BEFORE.format("maint_total")}), 0)
WHERE true
ON CONFLICT (name, minute) DO UPDATE SET n = n + 1, up = up + excluded.up,
    latency_sum = latency_sum + excluded.latency_sum, latency_n = latency_n + excluded.latency_n,
    n_total = n_total + 1, up_total = up_total + excluded.up,
    pending = pending + excluded.pending, maint = maint + excluded.maint,
    maint_total = maint_total + excluded.maint
"""
# A probe dated before a service's newest bucket (a clock set back) counts in later totals too.
_SHIFT = """
UPDATE minutes SET n_total = n_total + 1, up_total = up_total + :up,
    maint_total = maint_total + :maint
WHERE name = :name AND minute > :minute
"""
_STATE = "SELECT state FROM states WHERE name = :name"
_SET_STATE = """
INSERT INTO states VALUES (:name, :state, :at, :failures, :detail)
ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, detail = excluded.detail,
    since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END,
    state = excluded.state
"""
_CHANGE = "INSERT OR REPLACE INTO changes VALUES (:name, :at, :state, :detail)"
_PRUNE_CHANGES = "DELETE FROM changes WHERE at < ?"
_PRUNE = "DELETE FROM minutes WHERE minute < ?"

# Raw probes, runs (consecutive probes in one state, for incidents and "down since") and spans
# (stretches of watching, for how much of a window the history covers). Added beside the
# buckets, each created if missing, so a file of any earlier version gains them on open.
_CREATE_RECENT = (
    """CREATE TABLE IF NOT EXISTS probes (
    name TEXT NOT NULL, at REAL NOT NULL, state TEXT NOT NULL, latency_ms REAL,
    detail TEXT NOT NULL, PRIMARY KEY (name, at)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS probes_by_at ON probes (at)",
    """CREATE TABLE IF NOT EXISTS runs (
    name TEXT NOT NULL, start REAL NOT NULL, last REAL NOT NULL, state TEXT NOT NULL,
    detail TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, start)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, start)",
    "CREATE INDEX IF NOT EXISTS runs_by_last ON runs (last)",
    """CREATE TABLE IF NOT EXISTS spans (
    name TEXT NOT NULL, start REAL NOT NULL, last REAL NOT NULL,
    PRIMARY KEY (name, start)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS spans_by_last ON spans (last)",
)
_ADD_PROBE = "INSERT OR REPLACE INTO probes VALUES (:name, :at, :state, :latency, :detail)"
_NEWEST_RUN = ("SELECT start, last, state, detail, n FROM runs WHERE name = ? "
               "ORDER BY start DESC LIMIT 1")
_NEWEST_SPAN = "SELECT start, last FROM spans WHERE name = ? ORDER BY start DESC LIMIT 1"
_RECENT = ("SELECT at, state, latency_ms, detail FROM probes WHERE name = ? "
           "ORDER BY at DESC LIMIT ?")
# The newest failing runs of the services asked for, each with the run right after it.
_FAILING_RUNS = """
SELECT name, start, last, detail, n,
    (SELECT start FROM runs AS a WHERE a.name = r.name AND a.start > r.start
     ORDER BY a.start LIMIT 1)
FROM runs AS r
WHERE state = :state AND name IN (SELECT value FROM json_each(:names))
ORDER BY start DESC LIMIT :limit
"""
_COVERAGE = """
SELECT name, SUM(MAX(0, MIN(last, :now) - MAX(start, :since))) FROM spans
WHERE name IN (SELECT value FROM json_each(:names)) AND last >= :since GROUP BY name
"""
_LATENCY = """
SELECT name, minute, latency_sum / latency_n FROM minutes
WHERE name IN (SELECT value FROM json_each(:names)) AND minute >= :since AND latency_n > 0
ORDER BY name, minute
"""


def _seek(columns: str, since: str | None) -> str:
    """One index seek: the newest bucket, or the first one from ``since`` on."""
    if since is None:
        return f"(SELECT {columns} FROM minutes WHERE name = s.value ORDER BY minute DESC LIMIT 1)"
    return (f"(SELECT {columns} FROM minutes WHERE name = s.value AND minute >= {since} "
            "ORDER BY minute LIMIT 1)")


_TOTALS = ("n", "up", "maint")


def _uptime_sql() -> str:
    """Per service: the newest totals, then for each window the totals before its first bucket."""
    seeks = [_seek(f"{c}_total", None) for c in _TOTALS]
    for i in range(len(WINDOWS)):
        seeks += [_seek(f"{c}_total - {c}", f":since{i}") for c in _TOTALS]
    return f"SELECT s.value, {', '.join(seeks)} FROM json_each(:names) AS s"


_UPTIME = _uptime_sql()


class ProbeHistory:
    """Uptime and latency history of probed services, stored beside the cache."""

    def __init__(self, path: str | Path, *, now: Callable[[], float] = time.time,
                 gap: float = GAP_SECONDS, keep_recent: float = KEEP_RECENT_SECONDS):
        self.path = Path(path)
        self.now = now
        #: probes further apart than this belong to different stretches of watching
        self.gap = gap
        self.keep_recent = keep_recent
        # (connection, identity of the file it opened); deque: append and pop need no lock.
        self._idle: deque[tuple[sqlite3.Connection, tuple[int, int]]] = deque()

    def record(self, results: Iterable[ProbeResult],
               failures: Mapping[str, int] | None = None) -> None:
        """Add one probe round to the minute buckets, note each service's state (and its
        failures in a row, for retries) and drop what is older than 7 days."""
        failures = failures or {}
        rows = [{"name": r.name, "minute": int(r.checked_at // 60), "up": int(r.up),
                 "ms": r.latency_ms or 0.0, "has_ms": int(r.latency_ms is not None),
                 "pending": int(r.state == PENDING), "maint": int(r.state == MAINTENANCE),
                 "state": r.state, "at": r.checked_at, "detail": r.detail,
                 "failures": failures.get(r.name, 0)}
                for r in results]
        probes = [Probe(r.name, r.checked_at, state(r), r.latency_ms, r.detail)
                  for r in results]
        now = self.now()
        horizon = int((now - KEEP_SECONDS) // 60)

        def write(db):
            # One transaction per round: a reader sees all of it or none of it.
            with db:
                db.execute("BEGIN IMMEDIATE")
                for row in rows:
                    db.execute(_ADD, row)
                    db.execute(_SHIFT, row)
                    if db.execute(_STATE, row).fetchone() != (row["state"],):
                        db.execute(_CHANGE, row)
                    db.execute(_SET_STATE, row)
                db.execute(_PRUNE, (horizon,))
                db.execute(_PRUNE_CHANGES, (now - KEEP_SECONDS,))
                for p in probes:
                    self._write_recent(db, p)
                db.execute("DELETE FROM probes WHERE at < ?", (now - self.keep_recent,))
                db.execute("DELETE FROM runs WHERE last < ?", (now - KEEP_SECONDS,))
                db.execute("DELETE FROM spans WHERE last < ?", (now - KEEP_SECONDS,))
        self._run(write)

    def _write_recent(self, db, p: Probe) -> None:
        """The probe itself, its run extended or a new one begun, its span likewise."""
        db.execute(_ADD_PROBE, {"name": p.name, "at": p.at, "state": p.state,
                                "latency": p.latency_ms, "detail": p.detail})
        newest = db.execute(_NEWEST_RUN, (p.name,)).fetchone()
        run = Run(p.name, newest[2], newest[0], newest[1]) if newest else None
        if continues(run, p.state, p.at, self.gap):
            db.execute("UPDATE runs SET last = ?, n = n + 1 WHERE name = ? AND start = ?",
                       (p.at, p.name, run.start))
        elif run is None or p.at > run.last:  # a probe dated before the newest one (a clock
            db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, 1)",  # set back)
                       (p.name, p.at, p.at, p.state, p.detail))  # only counts in buckets
        span = db.execute(_NEWEST_SPAN, (p.name,)).fetchone()
        if span and 0 <= p.at - span[1] <= self.gap:
            db.execute("UPDATE spans SET last = ? WHERE name = ? AND start = ?",
                       (p.at, p.name, span[0]))
        elif span is None or p.at > span[1]:
            db.execute("INSERT OR REPLACE INTO spans VALUES (?, ?, ?)", (p.name, p.at, p.at))

    def uptime(self, names: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """Uptime ratio (0..1, None without data) per service over 1 h, 24 h and 7 d.

        Probes in a maintenance window are left out; "degraded" counts as up, "pending" (a
        failed probe within the retries) as not up: retries delay the Offline verdict, they
        do not make a failed probe a success. None when a window holds no counted probe.
        """
        out: dict[str, dict[str, float | None]] = {n: dict.fromkeys(WINDOWS) for n in names}
        now = self.now()
        args = {f"since{i}": int((now - seconds) // 60)
                for i, seconds in enumerate(WINDOWS.values())}
        rows = self._run(lambda db: db.execute(
            _UPTIME, {"names": json.dumps(list(names)), **args}).fetchall()) or []
        for name, n_last, up_last, m_last, *before in rows:
            for i, label in enumerate(WINDOWS):
                n_before, up_before, m_before = before[3 * i:3 * i + 3]
                counted = (n_last - n_before) - (m_last - m_before) if n_before is not None else 0
                if counted > 0:
                    out[name][label] = (up_last - up_before) / counted
        return out

    def failures(self, names: Sequence[str]) -> dict[str, int]:
        """Each service's failed probes in a row so far (0 when up or never probed)."""
        rows = self._run(lambda db: db.execute(
            "SELECT name, failures FROM states WHERE name IN "
            "(SELECT value FROM json_each(?))", (json.dumps(list(names)),)).fetchall())
        return dict(rows or [])

    def states(self, names: Sequence[str]) -> dict[str, tuple[str, float]]:
        """Each probed service's state and since when it has been in it (epoch seconds)."""
        rows = self._run(lambda db: db.execute(
            "SELECT name, state, since FROM states WHERE name IN "
            "(SELECT value FROM json_each(?))", (json.dumps(list(names)),)).fetchall())
        return {name: (state, since) for name, state, since in rows or []}

    def changes(self, names: Sequence[str], since: float | None = None
                ) -> list[tuple[str, float, str, str]]:
        """Changes of state, oldest first: (name, at, new state, the probe's detail then);
        over the kept 7 days unless ``since`` says from when."""
        since = self.now() - KEEP_SECONDS if since is None else since
        rows = self._run(lambda db: db.execute(
            "SELECT name, at, state, detail FROM changes WHERE at >= ? AND name IN "
            "(SELECT value FROM json_each(?)) ORDER BY at, name",
            (since, json.dumps(list(names)))).fetchall())
        return [tuple(r) for r in rows or []]

    def latency(self, names: Sequence[str], minutes: int = 60
                ) -> dict[str, list[tuple[int, float]]]:
        """Average latency per minute over the last ``minutes``: (minute start, ms) pairs."""
        since = int(self.now() // 60) - minutes + 1
        rows = self._run(lambda db: db.execute(
            _LATENCY, {"names": json.dumps(list(names)), "since": since}).fetchall())
        out: dict[str, list[tuple[int, float]]] = {n: [] for n in names}
        for name, minute, ms in rows or []:
            out[name].append((minute * 60, ms))
        return out

    def recent(self, names: Sequence[str], n: int) -> dict[str, list[Probe]]:
        """The last ``n`` probes (of the kept hour) per service, oldest first."""
        def read(db):
            return {name: [Probe(name, *row) for row in reversed(
                db.execute(_RECENT, (name, n)).fetchall())] for name in names}
        return self._run(read) or {name: [] for name in names}

    def current_runs(self, names: Sequence[str]) -> dict[str, Run | None]:
        """Each service's newest run (its state now and since when), None before any probe."""
        def read(db):
            out = {}
            for name in names:
                row = db.execute(_NEWEST_RUN, (name,)).fetchone()
                out[name] = Run(name, row[2], row[0], row[1], row[3], row[4]) if row else None
            return out
        return self._run(read) or dict.fromkeys(names)

    def coverage(self, names: Sequence[str]) -> dict[str, dict[str, float]]:
        """Seconds of each window (1 h, 24 h, 7 d) that the history covers, per service."""
        now = self.now()
        out = {name: dict.fromkeys(WINDOWS, 0.0) for name in names}

        def read(db):
            for label, seconds in WINDOWS.items():
                for name, covered in db.execute(_COVERAGE, {
                        "names": json.dumps(list(names)), "now": now,
                        "since": now - seconds}).fetchall():
                    out[name][label] = covered or 0.0
        self._run(read)
        return out

    def incidents(self, names: Sequence[str], limit: int) -> list[Incident]:
        """The newest ``limit`` outages of these services, newest first."""
        def read(db):
            return db.execute(_FAILING_RUNS, {"state": FAILING, "names": json.dumps(list(names)),
                                              "limit": limit}).fetchall()
        runs: dict[tuple[str, float], Run] = {}
        for name, start, last, detail, n, next_start in self._run(read) or []:
            runs[name, start] = Run(name, FAILING, start, last, detail, n)
            # Only its start matters (the first probe after the failures); a failing run of
            # its own, fetched too, keeps its whole row.
            if next_start is not None:
                runs.setdefault((name, next_start), Run(name, "next", next_start, next_start))
        return incidents(runs.values(), now=self.now(), gap=self.gap, limit=limit)

    def _run(self, op):
        """Run ``op`` on a borrowed connection; a corrupted or vanished file is rebuilt."""
        for attempt in range(2):
            conn = None
            try:
                conn = self._borrow()
                result = op(conn[0])
            except sqlite3.OperationalError as exc:  # locked, read-only, disk full …
                self._discard(conn)
                log.warning("probe history %s unavailable: %s", self.path, exc)
                return None
            except sqlite3.DatabaseError as exc:  # not a database, malformed
                self._discard(conn)
                log.warning("probe history %s corrupted (%s); starting afresh", self.path, exc)
                if attempt == 0:
                    self._remove_files()
                continue
            except OSError as exc:
                self._discard(conn)
                log.warning("probe history %s unavailable: %s", self.path, exc)
                return None
            except BaseException:
                self._discard(conn)
                raise
            self._give_back(conn)
            return result
        return None

    def _borrow(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        """An idle connection to the file at ``path`` now, else a new one."""
        current = self._file_identity()
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return self._connect()
            if conn[1] == current:
                return conn
            # The file was deleted or replaced since: that connection writes where nobody reads.
            conn[0].close()

    def _give_back(self, conn) -> None:
        if len(self._idle) < POOL_SIZE:
            self._idle.append(conn)
        else:
            conn[0].close()

    def _discard(self, conn) -> None:
        if conn is not None:
            conn[0].close()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _connect(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are explicit (BEGIN IMMEDIATE), so reads hold none open.
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None,
                             check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit is not fsynced; a power cut may lose the last rounds only.
            db.execute("PRAGMA synchronous = NORMAL")
            _ensure_schema(db, self.path)
            for statement in _CREATE_RECENT:
                db.execute(statement)
            identity = self._file_identity()
        except BaseException:
            db.close()
            raise
        if identity is None:
            db.close()
            raise sqlite3.OperationalError("the file vanished while it was opened")
        return db, identity

    def _remove_files(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _ensure_schema(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or bring an older schema's up to date in place, once per file."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    with db:
        db.execute("BEGIN IMMEDIATE")  # another process may be doing the same: one wins
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        if version < 1:
            db.execute(_MINUTES)
            db.execute("CREATE INDEX minutes_by_minute ON minutes (minute)")
        # Columns with defaults: SQLite adds them without rewriting the table.
        for column in _V2_COLUMNS:
            db.execute(f"ALTER TABLE minutes ADD COLUMN {column}")
        for statement in _V2_TABLES:
            db.execute(statement)
        if version < 1 and db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'buckets'").fetchone():
            moved = db.execute(_MIGRATE).rowcount
            db.execute("DROP TABLE buckets")
            log.info("probe history %s: %d minute buckets given running totals", path, moved)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        log.info("probe history %s: schema %d brought to %d", path, version, SCHEMA_VERSION)

"""The cache layer every datasource call goes through: throttle, single flight, stale, backoff.

- A call whose key was answered less than ``ttl`` seconds ago is answered from the cache.
- Identical calls at the same time, from threads or from processes sharing the directory,
  make one upstream call: the others wait on a lock kept in the cache itself, then read.
- A caller waits for another's call at most ``wait`` seconds (its own deadline), then gets the
  last good value (stale) or an error: one stuck upstream call never holds every caller.
- When the upstream is unreachable, the last good value comes back marked stale, with the
  error; after consecutive failures the upstream is left alone for 1, 2, 4 … ``backoff_max`` s,
  or as long as its ``Retry-After`` asked (``backoff_max`` at most).
- A query the upstream rejects (``QueryError``) is an answer, not an outage: it is returned
  as an error, never hidden behind stale data.
- A deleted or corrupted cache directory is rebuilt; if that fails, calls go straight through.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import diskcache

import telemetry
from datasources.errors import DatasourceError, Unreachable

log = logging.getLogger(__name__)
T = TypeVar("T")

_STORE_ERRORS = (sqlite3.Error, OSError, EOFError, ValueError, TypeError, AttributeError,
                 diskcache.Timeout)


@dataclass(frozen=True)
class Result(Generic[T]):
    """What a panel gets: a value or an error, and whether the value is stale."""

    value: T | None = None
    error: DatasourceError | None = None
    stale: bool = False
    fetched_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def stale_badge(self) -> str | None:
        """'stale since HH:MM:SS — Prometheus unreachable: connection refused', if stale."""
        if not self.stale or self.fetched_at is None:
            return None
        since = time.strftime("%H:%M:%S", time.gmtime(self.fetched_at))  # UTC, as every chart
        return f"stale since {since} — {self.error.describe() if self.error else 'unknown'}"


def cache_key(*parts: Any) -> str:
    """A stable key for a request: readable prefix, hashed parameters."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
    return f"{parts[0]}:{digest}"


@dataclass
class _Entry:
    value: Any
    error: DatasourceError | None
    fetched_at: float


class Cache:
    """Disk-backed cache shared by threads and processes using the same directory."""

    def __init__(self, directory: str | os.PathLike, *, now: Callable[[], float] = time.time,
                 backoff_base: float = 1.0, backoff_max: float = 30.0,
                 lock_expire: float = 120.0, size_limit: int = 256 * 2**20):
        self.directory = Path(directory)
        #: bytes on disk before diskcache evicts the least recently stored entries
        self.size_limit = size_limit
        self.now = now
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.lock_expire = lock_expire
        self._guard = threading.Lock()
        self._store: diskcache.Cache | None = None
        self._open()

    # --- public ---------------------------------------------------------------------------

    def get(self, key: str, fetch: Callable[[], T], *, ttl: float, upstream: str,
            force: bool = False, fallback: str | None = None,
            wait: float | None = None) -> Result[T]:
        """Answer ``key`` from the cache when fresh, else call ``fetch`` once for everyone.

        ``fallback`` names the request whatever its time window (the same query over "the last
        hour"): a live panel's key moves with the clock, so when the upstream is down its last
        good value is found under this name instead. ``wait`` bounds the wait for another
        caller's identical call (default: ``lock_expire``); pass the upstream's timeout.
        """
        asked_at = self.now()
        entry = self._read(key)
        if entry and not force and asked_at - entry.fetched_at < ttl:
            telemetry.CACHE_HITS.labels(upstream).inc()
            return self._answer(entry)
        waiting = self._backoff_left(upstream)
        keys = (key, fallback or key)
        if waiting > 0:
            return self._stale(keys, entry, self._backoff_error(upstream, waiting))
        store = self._usable()
        if store is None:
            return self._call(keys, fetch, upstream, None)
        lock, wait = f"lock:{key}", self.lock_expire if wait is None else wait
        try:
            if not self._acquire(store, lock, wait, upstream):
                return self._stale(keys, self._read(key), Unreachable(
                    upstream, f"no answer within {wait:g} s: an identical request is still "
                              "waiting for it"))
        except _STORE_ERRORS:
            return self._call(keys, fetch, upstream, None)
        try:
            entry = self._read(key)
            # Someone else fetched while we waited for the lock: their answer is ours too.
            if (entry and entry.fetched_at >= asked_at) or (
                    entry and not force and self.now() - entry.fetched_at < ttl):
                telemetry.CACHE_HITS.labels(upstream).inc()
                return self._answer(entry)
            # ... or found the upstream down: waiting callers must not each try it again.
            waiting = self._backoff_left(upstream)
            if waiting > 0:
                return self._stale(keys, entry, self._backoff_error(upstream, waiting))
            return self._call(keys, fetch, upstream, entry)
        finally:
            with contextlib.suppress(_STORE_ERRORS):
                store.delete(lock, retry=True)

    def _acquire(self, store: diskcache.Cache, lock: str, wait: float,
                 upstream: str = "") -> bool:
        """Take the single-flight lock (as ``diskcache.Lock`` does), waiting ``wait`` s at most.

        Real seconds, not ``now``: an injected clock does not move while a thread sleeps.
        """
        give_up, pause = time.monotonic() + wait, 0.001
        while not store.add(lock, None, expire=self.lock_expire, retry=True):
            if pause == 0.001:  # the first time round: an identical call is in flight
                telemetry.CACHE_WAITS.labels(upstream).inc()
            if time.monotonic() >= give_up:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return True

    def failures(self, upstream: str) -> int:
        """Consecutive failures recorded for ``upstream``."""
        state = self._safe(lambda s: s.get(f"backoff:{upstream}"))
        return state[0] if state else 0

    def close(self) -> None:
        with self._guard:
            if self._store is not None:
                with contextlib.suppress(_STORE_ERRORS):
                    self._store.close()
                self._store = None

    # --- fetching -------------------------------------------------------------------------

    def _call(self, keys: tuple[str, str], fetch, upstream, previous: _Entry | None) -> Result:
        key, fallback = keys
        telemetry.CACHE_MISSES.labels(upstream).inc()
        try:
            value = fetch()
        except DatasourceError as exc:
            if not exc.serve_stale:
                self._reset_backoff(upstream)
                self._write(key, _Entry(None, exc, self.now()))
                return Result(error=exc, fetched_at=self.now())
            # Only an outage backs the whole upstream off; a bad answer on one endpoint
            # (a 404, an expired token) must not stall every other panel.
            if isinstance(exc, Unreachable):
                self._record_failure(upstream, exc)
            else:
                self._reset_backoff(upstream)
            return self._stale(keys, previous, exc)
        entry = _Entry(value, None, self.now())
        self._reset_backoff(upstream)
        self._write(key, entry)
        self._safe(lambda s: s.set(f"good:{fallback}", entry))
        return Result(value=value, fetched_at=entry.fetched_at)

    def _answer(self, entry: _Entry) -> Result:
        return Result(value=entry.value, error=entry.error, fetched_at=entry.fetched_at)

    def _stale(self, keys: tuple[str, str], entry: _Entry | None,
               error: DatasourceError) -> Result:
        good = entry if entry and entry.error is None else self._safe(
            lambda s: s.get(f"good:{keys[1]}"))
        if good is None:
            return Result(error=error)
        telemetry.CACHE_STALE.labels(error.upstream).inc()
        return Result(value=good.value, error=error, stale=True, fetched_at=good.fetched_at)

    # --- backoff --------------------------------------------------------------------------

    def _backoff_left(self, upstream: str) -> float:
        state = self._safe(lambda s: s.get(f"backoff:{upstream}"))
        return max(0.0, state[1] - self.now()) if state else 0.0

    def _backoff_error(self, upstream: str, waiting: float) -> DatasourceError:
        state = self._safe(lambda s: s.get(f"backoff:{upstream}"))
        last = state[2] if state else None
        reason = last.message if last else "failing"
        return Unreachable(upstream, f"{reason} (next try in {waiting:.0f} s)",
                           status=getattr(last, "status", None))

    def _record_failure(self, upstream: str, exc: DatasourceError) -> None:
        def update(store):
            with store.transact():
                failures = (store.get(f"backoff:{upstream}") or (0, 0, None))[0] + 1
                delay = min(max(self.backoff_base * 2 ** (failures - 1), exc.retry_after or 0),
                            self.backoff_max)
                store.set(f"backoff:{upstream}", (failures, self.now() + delay, exc))
                return delay
        delay = self._safe(update)
        # The message was scrubbed of secrets where it was made (datasources.http).
        log.warning("%s (next try in %.0f s)", exc.describe(), delay or 0)

    def _reset_backoff(self, upstream: str) -> None:
        self._safe(lambda s: s.delete(f"backoff:{upstream}"))

    # --- the store, surviving a deleted or corrupted directory ----------------------------

    def _read(self, key: str) -> _Entry | None:
        return self._safe(lambda s: s.get(f"entry:{key}"))

    def _write(self, key: str, entry: _Entry) -> None:
        self._safe(lambda s: s.set(f"entry:{key}", entry))

    def _safe(self, op: Callable[[diskcache.Cache], Any]) -> Any:
        for _ in range(2):
            store = self._usable()
            if store is None:
                return None
            try:
                return op(store)
            except _STORE_ERRORS as exc:
                log.warning("cache at %s failed (%s); reopening", self.directory, exc)
                # "database is locked" or a full disk is an OperationalError: passing, and
                # the directory is shared with other workers, so only real corruption rebuilds.
                corrupt = isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                    exc, sqlite3.OperationalError)
                self._reopen(corrupt=corrupt)
        return None

    def _usable(self) -> diskcache.Cache | None:
        if self._store is None or not self.directory.is_dir():
            self._reopen()
        return self._store

    def _open(self) -> None:
        try:
            self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
        except _STORE_ERRORS as exc:
            log.warning("cache at %s unusable (%s); rebuilding it", self.directory, exc)
            self._rebuild()

    def _reopen(self, corrupt: bool = False) -> None:
        with self._guard:
            old, self._store = self._store, None
            if old is not None:
                with contextlib.suppress(_STORE_ERRORS):
                    old.close()
            if corrupt:
                self._rebuild()
            else:
                self._open()

    def _rebuild(self) -> None:
        try:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
        except _STORE_ERRORS as exc:
            log.error("cache at %s cannot be used (%s); calls go straight through",
                      self.directory, exc)
            self._store = None

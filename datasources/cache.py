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
- The storage is a ``datasources.stores.Store``: diskcache in a directory (one host), or Redis
  (``cache.url``: replicas on several hosts share the throttle, the single flight, the stale
  values and the backoff). A Redis that is down makes calls go straight to the upstreams and
  ``degraded()`` says so, until it answers again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import telemetry
from datasources.errors import DatasourceError, Unreachable
from datasources.stores import DiskStore, Store, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    """The cache contract over a ``Store``: diskcache in ``directory``, or the ``store`` given."""

    def __init__(self, directory: str | os.PathLike | None = None, *, store: Store | None = None,
                 now: Callable[[], float] = time.time, backoff_base: float = 1.0,
                 backoff_max: float = 30.0, lock_expire: float = 120.0,
                 size_limit: int = 256 * 2**20):
        if (directory is None) == (store is None):
            raise ValueError("give a directory or a store, not both")
        self.directory = Path(directory) if directory is not None else None
        #: bytes on disk before diskcache evicts the least recently stored entries
        self.size_limit = size_limit
        self.store: Store = store or DiskStore(directory, size_limit)
        self.now = now
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.lock_expire = lock_expire
        #: who holds a lock or lease taken through this cache (one per replica)
        self.token = uuid.uuid4().hex

    # --- public ---------------------------------------------------------------------------

    def get(self, key: str, fetch: Callable[[], T], *, ttl: float, upstream: str,
            force: bool = False, fallback: str | None = None,
            wait: float | None = None) -> Result[T]:
        """Answer ``key`` from the cache when fresh, else call ``fetch`` once for everyone.

        ``fallback`` names the request whatever its time window (the same query over "the last
        hour"): a live panel's key moves with the clock, so when the upstream is down its last
        good value is found under this name instead. ``wait`` bounds the wait for another
        caller's identical call (default: ``lock_expire``); pass the upstream's timeout. The
        lock taken for this call expires soon after (``_lock_expiry``), so a holder that died
        leaves it behind for about one upstream timeout, not ``lock_expire``.
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
        lock, wait = f"lock:{key}", self.lock_expire if wait is None else wait
        try:
            held, answered = self._acquire(lock, wait, key, asked_at, upstream)
        except StoreUnavailable:
            return self._call(keys, fetch, upstream, entry)
        if answered is not None:
            telemetry.CACHE_HITS.labels(upstream).inc()
            return self._answer(answered)
        if not held:
            return self._stale(keys, self._read(key), Unreachable(
                upstream, f"no answer within {wait:g} s: an identical request is still "
                          "waiting for it"))
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
            self._safe(lambda s: s.release(lock, self.token))

    @staticmethod
    def _lock_expiry(wait: float) -> float:
        """How long a lock lives: a bit past the holder's own ``wait`` (its upstream timeout).

        The holder's call ends by its timeout, then parses and stores the answer; a lock gone
        exactly at the timeout would let a waiter in during that, making a second call.
        """
        return wait * 1.25 + 0.25

    def _acquire(self, lock: str, wait: float, key: str, asked_at: float,
                 upstream: str = "") -> tuple[bool, _Entry | None]:
        """Take the single-flight lock, waiting ``wait`` s at most: (held, answer).

        While it waits, an answer the holder stored since ``asked_at`` ends the wait: waiters
        then read it at once instead of taking the lock one after another to read it.
        Real seconds, not ``now``: an injected clock does not move while a thread sleeps.
        """
        give_up, pause = time.monotonic() + wait, 0.001
        while not self.store.add(lock, self.token, self._lock_expiry(wait)):
            if pause == 0.001:  # the first time round: an identical call is in flight
                telemetry.CACHE_WAITS.labels(upstream).inc()
            entry = self._read(key)
            if entry is not None and entry.fetched_at >= asked_at:
                return False, entry
            if time.monotonic() >= give_up:
                return False, None
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return True, None

    def lease(self, name: str, ttl: float) -> bool:
        """Whether this cache holds (now or newly) the lease ``name`` for the next ``ttl`` s.

        One holder among every process sharing the store; it keeps the lease by asking again
        within ``ttl``, and a holder that stops asking (crashed) loses it after ``ttl``. With the
        store down every asker holds it: nothing to share, so each does the work itself.
        """
        key = f"lease:{name}"
        try:
            return self.store.add(key, self.token, ttl) or self.store.renew(key, self.token, ttl)
        except StoreUnavailable:
            return True

    def degraded(self) -> str | None:
        """Why the cache cannot be used now (calls then go straight through), or None."""
        return self.store.problem()

    def failures(self, upstream: str) -> int:
        """Consecutive failures recorded for ``upstream``."""
        state = self._safe(lambda s: s.get(f"backoff:{upstream}"))
        return state[0] if state else 0

    def close(self) -> None:
        self.store.close()

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
    # ``failures:<upstream>`` counts consecutive failures (an atomic counter, so processes
    # failing at once each add theirs); ``backoff:<upstream>`` holds (count, due, last error).

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
        failures = self._safe(lambda s: s.incr(f"failures:{upstream}")) or 1
        delay = min(max(self.backoff_base * 2 ** (failures - 1), exc.retry_after or 0),
                    self.backoff_max)
        self._safe(lambda s: s.set(f"backoff:{upstream}", (failures, self.now() + delay, exc)))
        # The message was scrubbed of secrets where it was made (datasources.http).
        log.warning("%s (next try in %.0f s)", exc.describe(), delay)

    def _reset_backoff(self, upstream: str) -> None:
        self._safe(lambda s: s.delete(f"backoff:{upstream}"))
        self._safe(lambda s: s.delete(f"failures:{upstream}"))

    # --- the store ------------------------------------------------------------------------

    def _read(self, key: str) -> _Entry | None:
        return self._safe(lambda s: s.get(f"entry:{key}"))

    def _write(self, key: str, entry: _Entry) -> None:
        self._safe(lambda s: s.set(f"entry:{key}", entry))

    def _safe(self, op: Callable[[Store], Any]) -> Any:
        """``op(store)``, or None when the store cannot be used now."""
        try:
            return op(self.store)
        except StoreUnavailable:
            return None

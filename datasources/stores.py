"""Where the cache keeps its state: a small storage interface, on diskcache or on Redis.

``datasources.cache.Cache`` holds the contract (throttle, single flight, stale, backoff);
a ``Store`` only stores. Every store offers the same few operations:

    get(key) / set(key, value, expire)   values, with an optional expiry in seconds
    add(key, token, expire) -> bool      set only if absent: a lock or a lease with expiry
    release(key, token) -> bool          delete only if it still holds ``token``
    renew(key, token, expire) -> bool    push the expiry back only if it still holds ``token``
    delete(key)
    incr(key) -> int                     an atomic counter
    problem() -> str | None              why the store is not usable now, or None

An operation that cannot reach its storage raises ``StoreUnavailable``: the cache then calls
the upstream straight through, so a dead store slows nothing down and breaks nothing.

Redis values are pickles, as diskcache's are. Unpickling runs code chosen by whoever wrote
the bytes, so every value written to Redis is signed (HMAC-SHA256 with ``cache.secret``, else
the URL's password) and one whose signature does not match is dropped unread, as a miss.
Without a secret or a password anyone who can write to that Redis can run code in the
dashboard: the store says so in the log once. Keys carry ``cache.prefix`` so several
dashboards (or other programs) can share one Redis database.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import diskcache

log = logging.getLogger(__name__)

#: longest a value lives in Redis when the cache gives no expiry (a last good value for the
#: stale badge older than this is not worth showing); diskcache evicts by size instead
REDIS_KEEP = 7 * 86400
#: seconds a Redis found down is left alone before the next try (calls go straight through)
REDIS_RETRY = 1.0


class StoreUnavailable(Exception):
    """The store cannot be used now; the message says why (no secrets in it)."""


class Store(Protocol):
    """The storage a ``Cache`` needs (see the module docstring)."""

    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: Any, expire: float | None = None) -> None: ...
    def add(self, key: str, token: str, expire: float) -> bool: ...
    def release(self, key: str, token: str) -> bool: ...
    def renew(self, key: str, token: str, expire: float) -> bool: ...
    def delete(self, key: str) -> None: ...
    def incr(self, key: str) -> int: ...
    def problem(self) -> str | None: ...
    def close(self) -> None: ...


# --- diskcache ---------------------------------------------------------------------------------

_DISK_ERRORS = (sqlite3.Error, OSError, EOFError, ValueError, TypeError, AttributeError,
                diskcache.Timeout)


class DiskStore:
    """diskcache in a directory shared by the threads and processes of one host.

    A deleted or corrupted directory is rebuilt; if that fails, operations raise
    ``StoreUnavailable`` until it can be opened again.
    """

    def __init__(self, directory: str | os.PathLike, size_limit: int = 256 * 2**20):
        self.directory = Path(directory)
        self.size_limit = size_limit
        self._guard = threading.Lock()
        self._store: diskcache.Cache | None = None
        self._open()

    def get(self, key):
        return self._do(lambda s: s.get(key, retry=True))

    def set(self, key, value, expire=None):
        self._do(lambda s: s.set(key, value, expire=expire, retry=True))

    def add(self, key, token, expire):
        return self._do(lambda s: s.add(key, token, expire=expire, retry=True))

    def release(self, key, token):
        def op(s):
            with s.transact(retry=True):
                if s.get(key) != token:
                    return False
                return s.delete(key)
        return self._do(op)

    def renew(self, key, token, expire):
        def op(s):
            with s.transact(retry=True):
                return s.get(key) == token and s.touch(key, expire)
        return self._do(op)

    def delete(self, key):
        self._do(lambda s: s.delete(key, retry=True))

    def incr(self, key):
        return self._do(lambda s: s.incr(key, retry=True))

    def problem(self):
        if self._store is None and not self._reopened():
            return f"disk cache at {self.directory} unusable"
        return None

    def close(self) -> None:
        with self._guard:
            if self._store is not None:
                with contextlib.suppress(*_DISK_ERRORS):
                    self._store.close()
                self._store = None

    def _do(self, op):
        for _ in range(2):
            store = self._usable()
            if store is None:
                break
            try:
                return op(store)
            except _DISK_ERRORS as exc:
                log.warning("cache at %s failed (%s); reopening", self.directory, exc)
                # "database is locked" or a full disk is an OperationalError: passing, and
                # the directory is shared with other workers, so only real corruption rebuilds.
                corrupt = isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                    exc, sqlite3.OperationalError)
                self._reopen(corrupt=corrupt)
        raise StoreUnavailable(f"disk cache at {self.directory} unusable")

    def _reopened(self) -> bool:
        return self._usable() is not None

    def _usable(self) -> diskcache.Cache | None:
        if self._store is None or not self.directory.is_dir():
            self._reopen()
        return self._store

    def _open(self) -> None:
        try:
            self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
        except _DISK_ERRORS as exc:
            log.warning("cache at %s unusable (%s); rebuilding it", self.directory, exc)
            self._rebuild()

    def _reopen(self, corrupt: bool = False) -> None:
        with self._guard:
            old, self._store = self._store, None
            if old is not None:
                with contextlib.suppress(*_DISK_ERRORS):
                    old.close()
            if corrupt:
                self._rebuild()
            else:
                self._open()

    def _rebuild(self) -> None:
        try:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit)
        except _DISK_ERRORS as exc:
            log.error("cache at %s cannot be used (%s); calls go straight through",
                      self.directory, exc)
            self._store = None


# --- Redis -------------------------------------------------------------------------------------

# Delete or re-expire a lock only while it is still ours: after it expired another caller
# may hold it, and a plain DEL would free theirs.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end " \
           "return 0"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
         "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"


def redacted_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: safe for logs and the page."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


#: connections one process keeps to the shared Redis at most (more threads wait for one)
REDIS_CONNECTIONS = 64
#: how long a thread waits for a free connection, in operation timeouts: a busy pool is load,
#: not an outage, so it waits longer than one reply may take
POOL_WAITS = 4


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _pool_busy(exc: Exception) -> bool:
    """Whether ``exc`` is redis-py's blocking pool finding no free connection in time."""
    return (type(exc).__module__, type(exc).__name__) == ("redis.exceptions", "ConnectionError") \
        and str(exc) == "No connection available."


class RedisStore:
    """Redis (``redis://``, ``rediss://`` or ``unix://`` URL): shared by replicas on any host.

    Every operation is bounded by ``timeout`` (connect and each reply). After a failure the
    store is left alone for ``REDIS_RETRY`` s, so a dead Redis costs one timeout per second
    at most, not one per call; then it is tried again and recovers by itself.
    """

    def __init__(self, url: str, *, prefix: str = "stackscope:", timeout: float = 0.5,
                 secret: str = "", retry: float = REDIS_RETRY):
        import redis  # only a Redis-backed cache needs the client
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.shown = redacted_url(url)
        self.prefix = prefix
        self.retry = retry
        parts = urlsplit(url)
        key = secret or (parts.password or "")
        self._secrets = [s for s in (secret, parts.password) if s]
        self._sign_key = hashlib.sha256(("stackscope-cache\0" + key).encode()).digest() \
            if key else None
        if self._sign_key is None:
            log.warning("shared cache %s has no password and cache.secret is empty: values are "
                        "unsigned pickles, so anyone who can write to it can run code here",
                        self.shown)
        self._errors = (redis.RedisError, OSError)
        # No client-side retries: the cache falls back to the upstream instead of waiting.
        # A blocking pool: a burst of threads (the Metrics tab fetches its panels in
        # parallel, in every server thread) waits up to ``timeout`` for a free connection,
        # where redis-py's default pool raised "Too many connections" past 100, which
        # read as an outage and sent every call straight to the upstreams for a second.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=timeout * POOL_WAITS,
            socket_connect_timeout=timeout, socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=30)
        self.client = redis.Redis(connection_pool=pool)
        self.pool_wait = timeout * POOL_WAITS
        self._release = self.client.register_script(_RELEASE)
        self._renew = self.client.register_script(_RENEW)
        self._down_until = 0.0
        self._problem: str | None = None

    # values: signed pickles
    def get(self, key):
        blob = self._do(lambda c: c.get(self.prefix + key))
        return None if blob is None else self._load(key, blob)

    def set(self, key, value, expire=None):
        blob = self._dump(value)
        self._do(lambda c: c.set(self.prefix + key, blob, px=_ms(expire or REDIS_KEEP)))

    # locks, leases and counters: plain strings
    def add(self, key, token, expire):
        return bool(self._do(lambda c: c.set(self.prefix + key, token, nx=True,
                                             px=_ms(expire))))

    def release(self, key, token):
        return bool(self._do(lambda c: self._release(keys=[self.prefix + key], args=[token])))

    def renew(self, key, token, expire):
        return bool(self._do(lambda c: self._renew(keys=[self.prefix + key],
                                                   args=[token, _ms(expire)])))

    def delete(self, key):
        self._do(lambda c: c.delete(self.prefix + key))

    def incr(self, key):
        def op(c):
            pipe = c.pipeline()
            pipe.incr(self.prefix + key)
            pipe.pexpire(self.prefix + key, _ms(REDIS_KEEP))
            return pipe.execute()[0]
        return int(self._do(op))

    def problem(self):
        if self._problem is not None and time.monotonic() >= self._down_until:
            with contextlib.suppress(StoreUnavailable):
                self._do(lambda c: c.ping())
        return self._problem

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self.client.close()

    def run(self, op):
        """Run ``op(client)`` under the store's timeout and outage rules (for the history)."""
        return self._do(op)

    def _do(self, op):
        if time.monotonic() < self._down_until:
            raise StoreUnavailable(self._problem or "shared cache unreachable")
        try:
            result = op(self.client)
        except self._errors as exc:
            if _pool_busy(exc):
                # Every connection in use (a burst of threads), Redis itself answering: this
                # operation falls back, the others go on. Marking the store down would send
                # every call for a second straight to the upstreams, the herd the cache is for.
                raise StoreUnavailable(f"shared cache {self.shown} busy: no free connection "
                                       f"within {self.pool_wait:g} s") from None
            self._down_until = time.monotonic() + self.retry
            first = self._problem is None
            self._problem = f"shared cache {self.shown} unreachable: {self._scrub(str(exc))}"
            if first:
                log.warning("%s; calls go straight to the upstreams", self._problem)
            raise StoreUnavailable(self._problem) from None
        if self._problem is not None:
            log.warning("shared cache %s reachable again", self.shown)
            self._problem = None
        return result

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text or "no reason given"

    def _dump(self, value: Any) -> bytes:
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if self._sign_key is None:
            return blob
        return hmac.digest(self._sign_key, blob, "sha256") + blob

    def _load(self, key: str, blob: bytes) -> Any:
        if self._sign_key is not None:
            mac, blob = blob[:32], blob[32:]
            if not hmac.compare_digest(mac, hmac.digest(self._sign_key, blob, "sha256")):
                log.warning("shared cache: %s has a bad signature; ignored", key)
                return None
        try:
            return pickle.loads(blob)  # signed by us (see the module docstring)
        except Exception as exc:  # an old or foreign value: a miss, not a crash
            log.warning("shared cache: %s unreadable (%s); ignored", key, exc)
            return None

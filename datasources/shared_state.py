"""The cache and probe history a served app uses: on the disk of one host, or in Redis."""

from __future__ import annotations

from pathlib import Path

from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.redis_history import RedisHistory
from datasources.stores import RedisStore


def open_cache(config) -> Cache:
    """A Redis-backed cache when ``cache.url`` is set, else diskcache in ``cache.dir``."""
    sec = config.cache
    if sec.url:
        store = RedisStore(sec.url, prefix=sec.prefix, timeout=float(sec.timeout),
                           secret=sec.secret)
        return Cache(store=store, backoff_max=sec.backoff_max)
    return Cache(Path(sec.dir) / "cache", backoff_max=sec.backoff_max,
                 size_limit=sec.size_limit)


def open_history(config, cache: Cache, **spans) -> ProbeHistory | RedisHistory:
    """The probe history beside ``cache``: in the same Redis, so every replica shows the same
    uptime whichever host probed; else the SQLite file in ``cache.dir``. ``spans``: the
    history's ``gap`` and ``keep_recent`` (``callbacks.history_spans``)."""
    if isinstance(cache.store, RedisStore):
        return RedisHistory(cache.store, **spans)
    return ProbeHistory(Path(config.cache.dir) / "probe-history.sqlite3", **spans)

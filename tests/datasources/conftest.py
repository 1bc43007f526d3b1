"""The cache's two stores: contract tests take ``make_cache`` and run on both."""

from __future__ import annotations

import uuid

import pytest

from datasources.cache import Cache
from datasources.stores import RedisStore


def redis_url(proc, db: int = 0) -> str:
    """The URL of a ``stack.services`` redis-server."""
    return f"redis://{proc.host}:{proc.port}/{db}"


@pytest.fixture(params=["diskcache", "redis"])
def make_cache(request, tmp_path):
    """``make_cache(**kw)``: a new ``Cache`` on diskcache in tmp_path, or on the session's Redis.

    Caches made by one test share their store (as replicas do); each test has its own key
    prefix, so tests never see each other's keys.
    """
    made = []
    prefix = f"test-{uuid.uuid4().hex[:12]}:"

    def make(**kw) -> Cache:
        if request.param == "diskcache":
            cache = Cache(tmp_path / "c", **kw)
        else:
            server = request.getfixturevalue("redis_server")
            cache = Cache(store=RedisStore(redis_url(server), prefix=prefix), **kw)
        made.append(cache)
        return cache

    make.backend = request.param
    yield make
    for cache in made:
        cache.close()


@pytest.fixture(params=["sqlite", "redis"])
def make_history(request, tmp_path):
    """``make_history(**kw)``: a ``ProbeHistory`` on a SQLite file in tmp_path, or a
    ``RedisHistory`` on the session's Redis; ``kw`` as the constructors take them.

    Histories made by one test share their store (a restart, or another replica); each test
    has its own key prefix.
    """
    from datasources.history import ProbeHistory
    from datasources.redis_history import RedisHistory

    made = []
    prefix = f"test-{uuid.uuid4().hex[:12]}:"

    def make(**kw):
        if request.param == "sqlite":
            return ProbeHistory(tmp_path / "h.sqlite3", **kw)
        server = request.getfixturevalue("redis_server")
        store = RedisStore(redis_url(server), prefix=prefix)
        made.append(store)
        return RedisHistory(store, **kw)

    make.backend = request.param
    yield make
    for store in made:
        store.close()

"""The Redis store: single flight across processes, crashed holders, outages, secrets."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from datasources.cache import Cache
from datasources.stores import REDIS_CONNECTIONS, RedisStore, StoreUnavailable, redacted_url
from stack import services
from stack.poll import until
from tests.counting_server import CountingServer
from tests.datasources.conftest import redis_url
from tests.datasources.test_cache import fetcher

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.datasources.test_cache import fetcher
from datasources.cache import Cache
from datasources.stores import RedisStore
cache = Cache(store=RedisStore({url!r}, prefix={prefix!r}))
{body}
"""


def child(url: str, prefix: str, body: str) -> subprocess.Popen:
    code = CHILD.format(repo=str(REPO), url=url, prefix=prefix, body=body)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def fresh_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


def test_two_processes_on_one_redis_make_one_upstream_call(redis_server):
    server = CountingServer(delay=1.0)
    url, prefix = redis_url(redis_server), fresh_prefix()
    try:
        body = (f"print(cache.get('k', fetcher({server.url!r}), ttl=30, upstream='Counter')"
                ".value)")
        procs = [child(url, prefix, body) for _ in range(2)]
        outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    finally:
        server.stop()
    assert outs == ["{'ok': True}", "{'ok': True}"]
    assert server.count == 1


def test_a_killed_lock_holder_blocks_nobody_past_the_upstream_timeout(redis_server):
    url, prefix = redis_url(redis_server), fresh_prefix()
    # The holder takes the single-flight lock, then dies inside its upstream call.
    holder = child(url, prefix, "def hang():\n    print('fetching', flush=True)\n"
                                "    time.sleep(600)\n"
                                "cache.get('k', hang, ttl=30, upstream='U', wait=0.5)")
    try:
        assert holder.stdout.readline().strip() == "fetching"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    cache = Cache(store=RedisStore(url, prefix=prefix))
    # The lock outlives the holder's 0.5 s upstream timeout by a quarter and 0.25 s at most:
    # a caller with a 1 s timeout gets it within its own wait and asks the upstream itself.
    result = cache.get("k", lambda: "fresh", ttl=30, upstream="U", wait=1.0)
    assert result.ok and result.value == "fresh"


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, which it may stop and start again on its port."""
    proc = services.start_redis(tmp_path / "redis")
    yield proc
    proc.stop()


def test_redis_down_calls_go_straight_through_with_a_badge_then_it_recovers(own_redis,
                                                                             tmp_path):
    upstream = CountingServer()
    url = redis_url(own_redis)
    cache = Cache(store=RedisStore(url, prefix=fresh_prefix(), timeout=0.5, retry=0))
    fetch = fetcher(upstream.url)
    try:
        assert cache.get("k", fetch, ttl=60, upstream="Counter").ok
        assert cache.degraded() is None
        own_redis.stop()
        for _ in range(3):
            down = cache.get("k", fetch, ttl=60, upstream="Counter")
            assert down.ok and down.value == {"ok": True}
        assert upstream.count == 4  # nothing to throttle with: each call went to the upstream
        assert cache.degraded().startswith(f"shared cache {url} unreachable: ")
        restarted = services.start_redis(tmp_path / "redis", port=own_redis.port)
        try:
            until(lambda: cache.degraded() is None, 10, every=0.05, message="recovered")
            cache.get("k", fetch, ttl=60, upstream="Counter")
            cache.get("k", fetch, ttl=60, upstream="Counter")
            assert upstream.count == 5  # throttled again
        finally:
            restarted.stop()
    finally:
        upstream.stop()


def test_a_black_hole_redis_stalls_no_call_past_its_timeout(black_hole):
    host, port = black_hole
    cache = Cache(store=RedisStore(f"redis://{host}:{port}/0", timeout=0.2))
    result = cache.get("k", lambda: 42, ttl=60, upstream="U")
    assert result.value == 42
    assert "unreachable" in cache.degraded()


def test_the_password_never_shows_in_messages(own_redis):
    secret = "pw-" + uuid.uuid4().hex
    redis.Redis(host=own_redis.host, port=own_redis.port).config_set("requirepass", secret)
    good = f"redis://:{secret}@{own_redis.host}:{own_redis.port}/0"
    bad = f"redis://:{secret}x@{own_redis.host}:{own_redis.port}/0"
    assert redacted_url(good) == f"redis://:***@{own_redis.host}:{own_redis.port}/0"
    ok = Cache(store=RedisStore(good, prefix=fresh_prefix()))
    assert ok.get("k", lambda: 1, ttl=60, upstream="U").value == 1 and ok.degraded() is None
    refused = Cache(store=RedisStore(bad, prefix=fresh_prefix()))
    assert refused.get("k", lambda: 2, ttl=60, upstream="U").value == 2
    problem = refused.degraded()
    assert "unreachable" in problem and "***" in problem and secret not in problem


def test_values_not_signed_with_our_key_are_never_unpickled(redis_server):
    url, prefix = redis_url(redis_server), fresh_prefix()
    ours = RedisStore(url, prefix=prefix, secret="one key")
    ours.set("v", {"a": 1})
    assert ours.get("v") == {"a": 1}
    assert RedisStore(url, prefix=prefix, secret="another key").get("v") is None

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("an unsigned pickle was loaded",))

    raw = redis.Redis.from_url(url)
    raw.set(prefix + "v", b"\0" * 32 + pickle.dumps(Boom()))
    assert ours.get("v") is None


def test_keys_carry_the_prefix_so_stores_do_not_meet(redis_server):
    url = redis_url(redis_server)
    a, b = RedisStore(url, prefix=fresh_prefix()), RedisStore(url, prefix=fresh_prefix())
    a.set("k", 1)
    assert b.get("k") is None and a.get("k") == 1
    assert redis.Redis.from_url(url).exists(a.prefix + "k") == 1


def test_with_redis_down_every_replica_holds_the_lease_and_does_the_work(closed_port):
    url = f"redis://127.0.0.1:{closed_port}/0"
    a, b = Cache(store=RedisStore(url)), Cache(store=RedisStore(url))
    assert a.lease("prober", 5) and b.lease("prober", 5)


def test_more_threads_than_connections_wait_for_one_instead_of_an_outage(redis_server):
    # The Metrics tab fetches its panels in parallel in every server thread: a burst of
    # operations past the pool's size must queue for a connection, not read as Redis down.
    store = RedisStore(redis_url(redis_server), prefix=f"burst-{uuid.uuid4().hex[:8]}:",
                       timeout=5)
    with ThreadPoolExecutor(3 * REDIS_CONNECTIONS) as pool:
        list(pool.map(lambda i: store.set(f"k{i}", i, expire=30), range(6 * REDIS_CONNECTIONS)))
    assert store.problem() is None
    assert store.get("k7") == 7


def test_a_pool_with_no_free_connection_fails_that_call_only_not_the_store(redis_server):
    # Every connection checked out (a burst on a loaded machine): the operation waiting past
    # its wait falls back alone; the store is not marked down, so the next one uses Redis
    # (marked down, every call for a second went straight to the upstreams: a herd).
    store = RedisStore(redis_url(redis_server), prefix=f"busy-{uuid.uuid4().hex[:8]}:",
                       timeout=0.05)
    store.set("k", 1, expire=30)
    pool = store.client.connection_pool
    taken = [pool.get_connection("GET") for _ in range(REDIS_CONNECTIONS)]
    with pytest.raises(StoreUnavailable, match=r"busy: no free connection within 0\.2 s"):
        store.get("k")
    for connection in taken:
        pool.release(connection)
    assert store.problem() is None and store.get("k") == 1

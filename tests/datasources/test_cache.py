"""The cache layer: throttle, single flight (threads and processes), stale, backoff, survival."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from config import Upstream
from datasources.cache import Cache, cache_key
from datasources.errors import QueryError, Unreachable
from datasources.http import request
from tests.counting_server import CountingServer
from tests.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def upstream_server():
    server = CountingServer()
    yield server
    server.stop()


def fetcher(url: str, name: str = "Counter"):
    upstream = Upstream(name, url, timeout=2.0, cache_ttl=5.0)
    session = requests.Session()
    return lambda: request(session, upstream, "GET", "/").json()


def at_once(n: int, call) -> list:
    """The results of ``call`` made from ``n`` threads at the same time."""
    results = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_same_key_inside_ttl_is_answered_without_the_upstream(make_cache, upstream_server):
    clock = Clock()
    cache = make_cache(now=clock)
    fetch = fetcher(upstream_server.url)
    for _ in range(5):
        assert cache.get("k", fetch, ttl=10, upstream="Counter").value == {"ok": True}
    assert upstream_server.count == 1
    clock.t += 10.5
    cache.get("k", fetch, ttl=10, upstream="Counter")
    assert upstream_server.count == 2
    cache.get("other", fetch, ttl=10, upstream="Counter")
    assert upstream_server.count == 3


def test_force_skips_the_throttle(make_cache, upstream_server):
    cache = make_cache()
    fetch = fetcher(upstream_server.url)
    cache.get("k", fetch, ttl=60, upstream="Counter")
    cache.get("k", fetch, ttl=60, upstream="Counter", force=True)
    assert upstream_server.count == 2


def test_concurrent_threads_make_one_upstream_call(make_cache):
    server = CountingServer(delay=0.5)
    try:
        cache = make_cache()
        fetch = fetcher(server.url)
        results = at_once(8, lambda: cache.get("k", fetch, ttl=10, upstream="Counter"))
        assert server.count == 1
        assert [r.value for r in results] == [{"ok": True}] * 8
    finally:
        server.stop()


CHILD = """
import sys
sys.path.insert(0, {repo!r})
from tests.datasources.test_cache import fetcher
from datasources.cache import Cache
r = Cache({dir!r}).get("k", fetcher({url!r}), ttl=30, upstream="Counter")
print(r.value)
"""


def test_two_processes_sharing_the_dir_make_one_upstream_call(tmp_path):
    server = CountingServer(delay=1.0)
    try:
        code = CHILD.format(repo=str(REPO), dir=str(tmp_path / "c"), url=server.url)
        procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert outs == ["{'ok': True}", "{'ok': True}"]
        assert server.count == 1
    finally:
        server.stop()


def test_unreachable_upstream_serves_last_good_value_with_stale_badge(make_cache):
    server = CountingServer()
    clock = Clock()
    cache = make_cache(now=clock)
    fetch = fetcher(server.url)
    fresh = cache.get("k", fetch, ttl=1, upstream="Counter")
    server.stop()
    clock.t += 5
    stale = cache.get("k", fetch, ttl=1, upstream="Counter")
    assert stale.value == {"ok": True} and stale.stale
    assert isinstance(stale.error, Unreachable)
    assert stale.fetched_at == fresh.fetched_at
    badge = stale.stale_badge()
    assert badge.startswith("stale since ")
    assert badge.endswith("— Counter unreachable: connection refused")


def test_unreachable_with_nothing_cached_is_an_error_not_a_blank(make_cache, closed_port):
    result = make_cache().get("k", fetcher(f"http://127.0.0.1:{closed_port}"), ttl=1,
                                 upstream="Counter")
    assert result.value is None and not result.stale
    assert result.error.describe() == "Counter unreachable: connection refused"


def test_rejected_query_is_shown_and_not_papered_over_with_stale(make_cache):
    cache = make_cache()
    cache.get("k", lambda: 1, ttl=0.001, upstream="U")

    def rejected():
        raise QueryError("U", 'parse error at char 4: unexpected "}"', status=400)

    result = cache.get("k", rejected, ttl=0.001, upstream="U", force=True)
    assert result.value is None and not result.stale
    assert str(result.error) == 'parse error at char 4: unexpected "}"'


def test_backoff_doubles_up_to_the_cap_and_serves_stale_meanwhile(make_cache):
    server = CountingServer()
    clock = Clock()
    cache = make_cache(now=clock, backoff_max=8)
    fetch = fetcher(server.url)
    cache.get("k", fetch, ttl=0.1, upstream="Counter")
    server.status, server.body = 503, b"overloaded"
    calls_at = []
    for _ in range(300):  # 30 s of refreshes every 0.1 s
        clock.t += 0.1
        before = server.count
        result = cache.get("k", fetch, ttl=0.05, upstream="Counter")
        assert result.stale and result.value == {"ok": True}
        if server.count > before:
            calls_at.append(round(clock.t - 1_000_000, 1))
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(calls_at)]
    # Refreshes come every 0.1 s, so each retry lands within one tick of its due time.
    assert gaps[:4] == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.15)
    assert gaps[4:] == pytest.approx([8.0] * len(gaps[4:]), abs=0.15) and len(gaps) >= 5
    assert "HTTP 503: overloaded" in result.error.message
    server.status, server.body = 200, b'{"ok": true}'
    clock.t += 8.1
    assert cache.get("k", fetch, ttl=0.1, upstream="Counter").stale is False
    assert cache.failures("Counter") == 0
    server.stop()


def test_cache_dir_removed_at_run_time_is_rebuilt(tmp_path, upstream_server):
    cache = Cache(tmp_path / "c")
    fetch = fetcher(upstream_server.url)
    cache.get(cache_key("p", "q"), fetch, ttl=60, upstream="Counter")
    shutil.rmtree(tmp_path / "c")
    result = cache.get(cache_key("p", "q"), fetch, ttl=60, upstream="Counter")
    assert result.value == {"ok": True} and result.ok
    assert (tmp_path / "c").is_dir()
    assert cache.get(cache_key("p", "q"), fetch, ttl=60, upstream="Counter").ok
    assert upstream_server.count == 2


def test_corrupted_cache_file_is_rebuilt(tmp_path, upstream_server):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cache.db").write_bytes(b"this is not sqlite" * 100)
    cache = Cache(tmp_path / "c")
    fetch = fetcher(upstream_server.url)
    assert cache.get("k", fetch, ttl=60, upstream="Counter").value == {"ok": True}
    assert cache.get("k", fetch, ttl=60, upstream="Counter").value == {"ok": True}
    assert upstream_server.count == 1


def test_unwritable_cache_dir_still_answers(tmp_path, upstream_server):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache dir should be")
    cache = Cache(blocker / "c")
    result = cache.get("k", fetcher(upstream_server.url), ttl=60, upstream="Counter")
    assert result.value == {"ok": True}


def test_a_moving_window_finds_its_last_good_value_by_its_fallback_name(make_cache):
    server = CountingServer()
    clock = Clock()
    cache = make_cache(now=clock)
    fetch = fetcher(server.url)
    cache.get(cache_key("q", "up", 1000), fetch, ttl=1, upstream="Counter",
              fallback=cache_key("q", "up"))
    server.stop()
    clock.t += 5
    moved = cache.get(cache_key("q", "up", 1005), fetch, ttl=1, upstream="Counter",
                      fallback=cache_key("q", "up"))
    assert moved.stale and moved.value == {"ok": True}
    other = cache.get(cache_key("q", "down", 1005), fetch, ttl=1, upstream="Counter",
                      fallback=cache_key("q", "down"))
    assert other.value is None and other.error is not None


def test_a_bad_answer_on_one_endpoint_does_not_back_off_the_whole_upstream(make_cache):
    broken = CountingServer(status=404, body=b"404 page not found")
    healthy = CountingServer()
    try:
        cache = make_cache()
        bad = cache.get("alerts", fetcher(broken.url, "Prometheus"), ttl=1, upstream="Prometheus")
        assert bad.error.describe().startswith("Prometheus sent a bad response: HTTP 404")
        good = cache.get("panel", fetcher(healthy.url, "Prometheus"), ttl=1,
                         upstream="Prometheus")
        assert good.ok and healthy.count == 1
        assert cache.failures("Prometheus") == 0
    finally:
        broken.stop()
        healthy.stop()


def test_callers_waiting_on_a_down_upstream_do_not_each_try_it_again(make_cache):
    server = CountingServer(status=503, body=b"down", delay=0.5)
    try:
        cache = make_cache()
        fetch = fetcher(server.url)
        results = at_once(5, lambda: cache.get("k", fetch, ttl=10, upstream="Counter"))
        assert server.count == 1
        assert all(isinstance(r.error, Unreachable) for r in results)
    finally:
        server.stop()


def test_a_caller_waits_for_an_identical_call_no_longer_than_its_own_deadline(make_cache):
    server = CountingServer(delay=1.0)
    cache = make_cache()
    fetch = fetcher(server.url)
    try:
        holder = threading.Thread(target=lambda: cache.get("k", fetch, ttl=5, upstream="Counter"))
        holder.start()
        while server.count == 0:
            time.sleep(0.01)
        started = time.monotonic()
        waiter = cache.get("k", fetch, ttl=5, upstream="Counter", wait=0.3)
        waited = time.monotonic() - started
        holder.join()
    finally:
        server.stop()
    assert 0.3 <= waited < 0.8, waited
    assert isinstance(waiter.error, Unreachable) and waiter.value is None
    assert waiter.error.message == ("no answer within 0.3 s: an identical request is still "
                                    "waiting for it")
    assert server.count == 1 and cache.failures("Counter") == 0


@pytest.mark.parametrize(("retry_after", "backoff_max", "due"), [("7", 30, 7.0), ("3600", 8, 8.0)])
def test_retry_after_sets_the_backoff_up_to_its_cap(make_cache, retry_after, backoff_max, due):
    server = FaultServer()
    server.retry_after = retry_after
    clock = Clock()
    cache = make_cache(now=clock, backoff_max=backoff_max)
    fetch = fetcher(server.url + "/retry-after-429")
    calls_at = []
    try:
        for _ in range(100):  # 10 s of refreshes every 0.1 s
            before = server.count()
            result = cache.get("k", fetch, ttl=0.05, upstream="Counter")
            if server.count() > before:
                calls_at.append(round(clock.t - 1_000_000, 1))
            clock.t += 0.1
    finally:
        server.stop()
    # Without Retry-After the second try would come 1 s after the first.
    assert calls_at[:2] == pytest.approx([0.0, due], abs=0.15)
    assert result.error.message.startswith(f"HTTP 429: slow down (retry after {retry_after} s)")

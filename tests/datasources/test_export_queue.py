"""Exports are bounded: a few run at once across processes, the rest queue visibly, and no file
outlives its download.

The cap is tested through the app's real background callbacks (Dash's DiskcacheManager starts
one worker process per export) against a slow Loki that counts how many exports ask it at
once; the queue's own edge cases run in real child processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import threading
import time

import diskcache
import pytest

from app import create_app
from callbacks import build_deps
from datasources.export_job import ExportQueue, QueueFull, exports_dir, prune
from tests import dash_calls
from tests.recording_upstream import RecordingUpstream

T0 = 1_714_564_800 * 10**9
REQ = {"at": 1.0, "force": False, "live": False, "direction": "forward", "limit": 100,
       "query": '{app="api"}', "start_ns": T0, "end_ns": T0 + 60 * 10**9}


class SlowLoki(RecordingUpstream):
    """A Loki answering every range query with three lines after ``delay`` s, counting how
    many requests it holds at once (each running export asks one page at a time)."""

    def __init__(self, delay: float):
        self.delay, self.busy, self.most = delay, 0, 0
        self.guard = threading.Lock()
        super().__init__({"/loki/api/v1/query_range": self.page})

    def page(self, params: dict) -> bytes:
        with self.guard:
            self.busy += 1
            self.most = max(self.most, self.busy)
        time.sleep(self.delay)
        with self.guard:
            self.busy -= 1
        start = int(params["start"])
        values = [[str(start + i), f"line {i}"] for i in range(3)]
        return json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
            {"stream": {"app": "api"}, "values": values}]}}).encode()


@pytest.fixture
def slow_loki():
    server = SlowLoki(delay=1.5)
    yield server
    server.stop()


class Browser:
    """One page load posting the export callback and polling it, as the renderer does."""

    def __init__(self, app, n: int):
        self.app, self.client = app, app.server.test_client()
        page = self.client.get("/").get_data(as_text=True)
        config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>',
                           page, re.S).group(1)
        self.end_id = json.loads(config)["end_id"]
        key = dash_calls.find(app, "logs-download.data")
        # Dash keys a background job's result by its arguments: two pages asking for the very
        # same request would share it. Real requests differ by their time of creation.
        self.body = json.dumps(dash_calls.body(
            app, key, {"logs-export.n_clicks": 1, "logs-request.data": {**REQ, "at": n}},
            triggered=["logs-export.n_clicks"]))
        self.handles, self.seen, self.result = None, [], None

    def start(self) -> None:
        self.handles = self._post().get_json()

    def poll(self) -> bool:
        """One poll; True once the export has answered."""
        resp = self._post(**self.handles)
        if resp.status_code == 204:
            # Dash 4.4 answers 204 when the job is not running and has no result yet: a poll
            # landing between the job's end and its result being stored (seen under load).
            # The result is there on the next poll.
            return False
        answer = resp.get_json()
        progress = answer.get("progress") or {}
        if progress.get("logs-export-queue.children"):
            self.seen.append(progress["logs-export-queue.children"])
        if "response" in answer:
            self.result = answer["response"]
        return self.result is not None

    def _post(self, **handles):
        return self.client.post(dash_calls.ENDPOINT, data=self.body,
                                content_type="application/json",
                                query_string={"endId": self.end_id, **handles})


def test_exports_beyond_the_cap_queue_and_leave_no_file(write_config, slow_loki):
    config = write_config(f'[loki]\nurl = "{slow_loki.url}"\n[exports]\nmax_running = 2\n')
    app = create_app(config)
    browsers = [Browser(app, n) for n in range(4)]
    for b in browsers:
        b.start()
    deadline = time.monotonic() + 90
    while not all([b.poll() for b in browsers if b.result is None] or [True]):
        assert time.monotonic() < deadline, [b.seen for b in browsers]
        time.sleep(0.1)
    assert slow_loki.most == 2  # two ran together, never more
    queued = [b for b in browsers if any(s.startswith("queued (") for s in b.seen)]
    assert len(queued) >= 2, [b.seen for b in browsers]
    assert {s for b in queued for s in b.seen if s.startswith("queued")} <= {
        "queued (2 ahead)", "queued (3 ahead)"}
    for b in browsers:
        assert "Exported 3 entries" in json.dumps(b.result["logs-export-status"])
        assert b.result["logs-download"]["data"]["base64"] is True
    assert list(exports_dir(config.cache.dir).iterdir()) == []  # handed over, then deleted


def hold_slot(directory, running, queued, started, release):
    """A child process: take a slot (or wait for one), say so, hold it until released."""
    with ExportQueue(directory, running=running, queued=queued, poll=0.05).slot():
        started.set()
        release.wait(60)


def child(ctx, *args):
    proc = ctx.Process(target=hold_slot, args=args, daemon=True)
    proc.start()
    return proc


def test_a_killed_export_gives_its_slot_back(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started, release = ctx.Event(), ctx.Event()
    proc = child(ctx, tmp_path / "q", 1, 8, started, release)
    assert started.wait(30)
    queue = ExportQueue(tmp_path / "q", running=1, poll=0.05)
    assert list(queue.states().values()) == ["running"]
    os.kill(proc.pid, signal.SIGKILL)  # what Cancel does to the worker: no finally runs
    proc.join(10)
    began = time.monotonic()
    with queue.slot():
        assert time.monotonic() - began < 5
        assert list(queue.states().values()) == ["running"]
    assert queue.states() == {}


def test_a_full_queue_refuses_with_a_reason(tmp_path):
    ctx = multiprocessing.get_context("fork")
    release = ctx.Event()
    running, waiting = ctx.Event(), ctx.Event()
    procs = [child(ctx, tmp_path / "q", 1, 1, running, release)]
    assert running.wait(30)
    procs.append(child(ctx, tmp_path / "q", 1, 1, waiting, release))
    queue = ExportQueue(tmp_path / "q", running=1, queued=1, poll=0.05)
    deadline = time.monotonic() + 30
    while sorted(queue.states().values()) != ["running", "waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with pytest.raises(QueueFull, match=r"exports.max_queued = 1"), queue.slot():
        pass
    release.set()
    for proc in procs:
        proc.join(30)
    assert queue.states() == {}


def test_a_large_export_is_served_once_then_deleted(write_config):
    config = write_config()
    app = create_app(config)
    path = exports_dir(config.cache.dir) / "logs-a-b.csv"
    path.write_text("timestamp,line\r\n2026-11-22T00:00:00.000000001Z,hello\r\n")
    client = app.server.test_client()
    first = client.get("/exports/logs-a-b.csv")
    assert first.status_code == 200 and first.get_data(as_text=True).endswith("hello\r\n")
    first.close()
    assert not path.exists()
    assert client.get("/exports/logs-a-b.csv").status_code == 404


def test_an_unclaimed_export_goes_after_the_configured_keep(write_config):
    config = write_config("[exports]\nkeep = 60\n")
    folder = exports_dir(config.cache.dir)
    old, new = folder / "logs-old.csv", folder / "logs-new.csv"
    for path in (old, new):
        path.write_text("x")
    os.utime(old, (time.time() - 120, time.time() - 120))
    create_app(config)  # starting the app prunes, as every export and download does
    assert sorted(p.name for p in folder.iterdir()) == ["logs-new.csv"]
    assert prune(folder, keep_seconds=60, now=lambda: time.time() + 61) == 1


# --- the cache's own size --------------------------------------------------------------------

def test_the_disk_cache_stays_within_its_configured_size(write_config):
    config = write_config(f"[cache]\nsize_limit = {2**20}\n")
    cache = build_deps(config).cache
    blob = os.urandom(100_000)  # incompressible: what a large answer weighs on disk
    for i in range(60):
        cache.get(f"big:{i}", lambda: blob, ttl=60, upstream="test")
    store = diskcache.Cache(str(cache.directory))
    assert store.size_limit == 2**20
    # diskcache evicts the oldest entries on every write past the limit (ten at most a time)
    assert store.volume() < 2**20 + 10 * len(blob) < 60 * len(blob)
    assert cache.get("big:59", lambda: b"", ttl=60, upstream="test").value == blob

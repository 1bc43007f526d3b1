"""How long a Status refresh spends reading the probe history, fresh and after a full week.

A refresh reads ``uptime`` (1 h / 24 h / 7 d) and ``latency`` (the sparkline's hour) for 8
services. Histories: fresh (one round), one hour, one full week, all 8 services probed every
5 s. Baseline, measured in the same run: ``RawSqlHistory``, the previous implementation (sums
over every minute bucket of the week, a fresh connection per call, one process-wide lock).
Ours: ``datasources.history.ProbeHistory`` (running totals: index seeks; WAL; no lock), its
week converted from the baseline's file, as a first start after the upgrade does.

Then 8 threads read on the full week, alone and while a writer records a round every 0.1 s.

The cards' own reads (``recent`` probes for the heartbeat bar, ``current_runs`` for "down
since", ``coverage`` of each window, the newest 25 ``incidents``) are timed too, ours only, on
the same histories with their raw probes, runs and spans filled as a week of rounds leaves
them (a service here fails one round in 53: some 2 300 outages per service in the week).

Redis column (``datasources.redis_history.RedisHistory``, the history used when ``cache.url``
points at Redis), measured in the same run on a redis-server on a free loopback port: the
same histories copied row for row from ours into Redis, every read timed the same way, and
the 8 threads again. Ratio redis / ours.

Exits 1 unless all three give the same figures (Redis: every read, the cards' too) and ours
on a week costs at most 1.5x its 1-hour read,
for the uptime/latency read and for the whole refresh with the cards' reads.

    python bench/status_history.py
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasources.history import ProbeHistory  # noqa: E402
from datasources.probes import ProbeResult  # noqa: E402
from datasources.redis_history import RedisHistory  # noqa: E402
from datasources.stores import RedisStore  # noqa: E402
from query.incidents import FAILING, Probe, runs_from_probes  # noqa: E402
from stack import services  # noqa: E402

SERVICES = [f"svc{i}" for i in range(8)]
PERIOD = 5
END = 1_800_000_000.0  # a minute boundary
WEEK = 7 * 86400
READS = 300
READERS = 8
CONCURRENT_SECONDS = 3.0
RAW_WINDOWS = {"1h": 3600, "24h": 86400, "7d": WEEK}


class RawSqlHistory:
    """The baseline: the history before running totals, as it was (sums over the buckets)."""

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
    def __init__(self, path, *, now=time.time):
        self.path = Path(path)
        self.now = now
        self._lock = threading.Lock()

    def record(self, results):
        rows = [(r.name, int(r.checked_at // 60), int(r.up), r.latency_ms or 0.0,
                 int(r.latency_ms is not None)) for r in results]
        horizon = int((self.now() - WEEK) // 60)

        def write(db):
            db.executemany(self._UPSERT, rows)
            db.execute("DELETE FROM buckets WHERE minute < ?", (horizon,))
        self._run(write)

    def uptime(self, names):
        out = {n: dict.fromkeys(RAW_WINDOWS) for n in names}
        sinces = [int((self.now() - seconds) // 60) for seconds in RAW_WINDOWS.values()]
        sums = ", ".join("SUM(CASE WHEN minute >= ? THEN up END), "
                         "SUM(CASE WHEN minute >= ? THEN n END)" for _ in sinces)
        args = [x for since in sinces for x in (since, since)]
        rows = self._run(lambda db: db.execute(
            f"SELECT name, {sums} FROM buckets WHERE minute >= ? GROUP BY name",
            (*args, min(sinces))).fetchall()) or []
        for name, *pairs in rows:
            if name in out:
                for i, label in enumerate(RAW_WINDOWS):
                    up, n = pairs[2 * i], pairs[2 * i + 1]
                    out[name][label] = up / n if n else None
        return out

    def latency(self, names, minutes=60):
        since = int(self.now() // 60) - minutes + 1
        rows = self._run(lambda db: db.execute(
            "SELECT name, minute, latency_sum / latency_n FROM buckets "
            "WHERE minute >= ? AND latency_n > 0 ORDER BY name, minute", (since,)).fetchall())
        out = {n: [] for n in names}
        for name, minute, ms in rows or []:
            if name in out:
                out[name].append((minute * 60, ms))
        return out

    def _run(self, op):
        with self._lock:
            db = sqlite3.connect(self.path, timeout=5)
            try:
                with db:
                    db.execute(self._SCHEMA)
                    return op(db)
            finally:
                db.close()


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def probe_round(t: float) -> list[ProbeResult]:
    """One round at ``t``: a service is down now and then, latency wanders, deterministically."""
    k = int(t // PERIOD)
    out = []
    for i, name in enumerate(SERVICES):
        up = (k * 7 + i * 13) % 53 != 0 and (k // 720 + i) % 41 != 0
        ms = 1.0 + ((k * 31 + i * 17) % 97) / 8 if up else None
        out.append(ProbeResult(name, "tcp", "tcp://127.0.0.1:1", "", up, ms, "", t))
    return out


def old_schema_file(path: Path, seconds: float) -> None:
    """The baseline's file holding ``seconds`` of rounds before END, written in bulk."""
    buckets: dict[tuple[str, int], list] = {}
    t = END - seconds
    while t < END:
        for r in probe_round(t):
            b = buckets.setdefault((r.name, int(t // 60)), [0, 0, 0.0, 0])
            b[0] += 1
            b[1] += r.up
            b[2] += r.latency_ms or 0.0
            b[3] += r.latency_ms is not None
        t += PERIOD
    db = sqlite3.connect(path)
    with db:
        db.execute(RawSqlHistory._SCHEMA)
        db.executemany("INSERT INTO buckets VALUES (?, ?, ?, ?, ?, ?)",
                       [(name, m, *b) for (name, m), b in buckets.items()])
    db.close()


def status_read(history) -> tuple:
    return history.uptime(SERVICES), history.latency(SERVICES)


def card_read(history) -> tuple:
    """What the cards read beside uptime and latency (``callbacks.status.card_history``)."""
    return (history.recent(SERVICES, 40), history.current_runs(SERVICES),
            history.coverage(SERVICES), history.incidents(SERVICES, 25))


def full_read(history) -> tuple:
    return status_read(history), card_read(history)


def fill_card_tables(history: ProbeHistory, seconds: float) -> None:
    """Raw probes, runs and spans as ``seconds`` of rounds before END leave them, in bulk."""
    probes = [Probe(r.name, r.checked_at, "up" if r.up else "down", r.latency_ms, r.detail)
              for k in range(int(seconds // PERIOD)) for r in probe_round(END - seconds
                                                                           + k * PERIOD)]
    runs = runs_from_probes(probes, history.gap)
    db = sqlite3.connect(history.path)
    with db:
        db.executemany("INSERT INTO probes VALUES (?, ?, ?, ?, ?)",
                       [(p.name, p.at, p.state, p.latency_ms, p.detail) for p in probes
                        if p.at >= END - history.keep_recent])
        db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                       [(r.name, r.start, r.last, r.state, r.detail, r.probes) for r in runs])
        db.executemany("INSERT INTO spans VALUES (?, ?, ?)",
                       [(name, END - seconds, END - PERIOD) for name in SERVICES])
    db.close()


def redis_copy(ours: ProbeHistory, store: RedisStore, clock: Clock) -> RedisHistory:
    """A ``RedisHistory`` holding ours' rows, copied from its file in RedisHistory's key
    layout (the module's docstring), as the record script would have left them."""
    shared = RedisHistory(store, now=clock, gap=ours.gap, keep_recent=ours.keep_recent)
    db = sqlite3.connect(ours.path)
    pipe = store.client.pipeline(transaction=False)
    for name, minute, *b in db.execute(
            "SELECT name, minute, n, up, latency_sum, latency_n, n_total, up_total, pending, "
            "maint, maint_total FROM minutes"):
        pipe.hset(shared._key("b", name), str(minute), " ".join(map(repr, b)))
        pipe.zadd(shared._key("m", name), {str(minute): minute})
    for name, st, since, failures, detail in db.execute("SELECT * FROM states"):
        pipe.hset(shared._key("s", name), mapping={"state": st, "since": repr(since),
                                                   "failures": failures, "detail": detail})
    for name, at, st, detail in db.execute("SELECT * FROM changes"):
        pipe.zadd(shared._key("c", name), {f"{at!r} {st} {detail}": at})
    for name, at, st, ms, detail in db.execute("SELECT * FROM probes"):
        pipe.zadd(shared._key("p", name),
                  {f"{at!r} {st} {'-' if ms is None else repr(ms)} {detail}": at})
    for name, start, last, st, detail, n in db.execute("SELECT * FROM runs"):
        member = {f"{start!r} {last!r} {n} {st} {detail}": start}
        pipe.zadd(shared._key("r", name), member)
        if st == FAILING:
            pipe.zadd(shared._key("f", name), member)
    for name, start, last in db.execute("SELECT * FROM spans"):
        pipe.zadd(shared._key("sp", name), {f"{start!r} {last!r}": start})
    db.close()
    pipe.execute()
    return shared


def median_ms(fn: Callable[[], object], n: int = READS) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def histories(tmp: Path, label: str, seconds: float | None):
    """(baseline, ours) on the same rounds, each with a live round recorded at END."""
    clock = Clock(END)
    old_path, new_path = tmp / f"{label}-old.sqlite3", tmp / f"{label}-new.sqlite3"
    migrated = 0.0
    if seconds:
        old_schema_file(old_path, seconds)
        shutil.copy(old_path, new_path)
    base, ours = RawSqlHistory(old_path, now=clock), ProbeHistory(new_path, now=clock)
    started = time.perf_counter()
    ours.uptime([])  # the first call converts the baseline's file
    migrated = time.perf_counter() - started
    if seconds:
        fill_card_tables(ours, seconds)
    for h in (base, ours):
        h.record(probe_round(END))
    return base, ours, clock, migrated


def concurrent(history, clock: Clock, write: bool) -> tuple[float, float, int, float | None]:
    """(median, p99 read ms, reads done, median record ms): 8 readers, beside a writer or not."""
    stop = threading.Event()
    reads: list[list[float]] = [[] for _ in range(READERS)]
    writes: list[float] = []

    def reader(out):
        while not stop.is_set():
            started = time.perf_counter()
            status_read(history)
            out.append(time.perf_counter() - started)

    def writer():
        while not stop.wait(0.1):
            clock.t += PERIOD
            started = time.perf_counter()
            history.record(probe_round(clock.t))
            writes.append(time.perf_counter() - started)

    threads = [threading.Thread(target=reader, args=(out,)) for out in reads]
    if write:
        threads.append(threading.Thread(target=writer))
    for th in threads:
        th.start()
    time.sleep(CONCURRENT_SECONDS)
    stop.set()
    for th in threads:
        th.join()
    flat = sorted(x for out in reads for x in out)
    return (statistics.median(flat) * 1000, flat[int(len(flat) * 0.99)] * 1000, len(flat),
            statistics.median(writes) * 1000 if writes else None)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, services.start_redis(Path(tmp) / "redis") as rd:
        tmp = Path(tmp)
        url = f"redis://{rd.host}:{rd.port}/0"
        runs = {label: histories(tmp, label, seconds) for label, seconds in
                (("fresh", None), ("hour", 3600), ("week", WEEK))}
        shared = {label: redis_copy(ours, RedisStore(url, prefix=f"bench-{label}:"), clock)
                  for label, (_, ours, clock, _) in runs.items()}
        same = all(status_read(base) == status_read(ours) for base, ours, _, _ in runs.values())
        same_redis = all(full_read(shared[label]) == full_read(ours)
                         for label, (_, ours, _, _) in runs.items())
        table = {label: (median_ms(lambda b=base: status_read(b)),
                         median_ms(lambda o=ours: status_read(o)),
                         median_ms(lambda r=shared[label]: status_read(r)))
                 for label, (base, ours, _, _) in runs.items()}
        cards = {label: (median_ms(lambda o=ours: card_read(o)),
                         median_ms(lambda o=ours: full_read(o)),
                         median_ms(lambda r=shared[label]: card_read(r)),
                         median_ms(lambda r=shared[label]: full_read(r)))
                 for label, (_, ours, _, _) in runs.items()}
        outages = len(runs["week"][1].incidents(SERVICES, 10**6))
        base, ours, clock, migrated = runs["week"]
        busy = {(name, write): concurrent(h, clock, write)
                for name, h in (("baseline", base), ("ours", ours), ("redis", shared["week"]))
                for write in (False, True)}
    report(table, same, migrated, busy)
    report_cards(cards, outages, same_redis)
    week, hour = table["week"][1], table["hour"][1]
    full_week, full_hour = cards["week"][1], cards["hour"][1]
    return 0 if (same and same_redis and week <= 1.5 * hour
                 and full_week <= 1.5 * full_hour) else 1


def report_cards(cards, outages, same_redis) -> None:
    print(f"cards' reads (recent 40, current runs, coverage, newest 25 of {outages} incidents "
          "in the week), median of", READS)
    print(f"{'history':<8} {'ours: card reads':>17} {'whole refresh':>14} "
          f"{'redis: card reads':>18} {'whole refresh':>14} {'redis/ours':>11}")
    for label, (card, full, r_card, r_full) in cards.items():
        print(f"{label:<8} {card:>14.3f} ms {full:>11.3f} ms {r_card:>15.3f} ms "
              f"{r_full:>11.3f} ms {r_full / full:>10.1f}x")
    print(f"whole refresh week/hour: ours {cards['week'][1] / cards['hour'][1]:.1f}x, "
          f"redis {cards['week'][3] / cards['hour'][3]:.1f}x")
    print(f"redis gives every read ours gives: {'yes' if same_redis else 'NO'}")


def report(table, same, migrated, busy) -> None:
    print(f"Status refresh history read (uptime + latency, {len(SERVICES)} services, "
          f"one probe per {PERIOD} s), median of {READS}:")
    print(f"{'history':<8} {'baseline RawSqlHistory':>24} {'ours':>10} {'baseline/ours':>14}"
          f" {'redis':>10} {'redis/ours':>11}")
    for label, (b, o, r) in table.items():
        print(f"{label:<8} {b:>21.3f} ms {o:>7.3f} ms {b / o:>13.1f}x {r:>7.3f} ms "
              f"{r / o:>10.1f}x")
    for name, col in (("baseline", 0), ("ours", 1), ("redis", 2)):
        fresh, hour, week = (table[k][col] for k in ("fresh", "hour", "week"))
        print(f"{name}: week/fresh {week / fresh:.1f}x, week/hour {week / hour:.1f}x")
    print(f"same uptime and latency figures from both: {'yes' if same else 'NO'}")
    print(f"converting the baseline's week file on first start: {migrated:.2f} s")
    print(f"{READERS} reader threads for {CONCURRENT_SECONDS:g} s on the full week, alone and "
          "beside a writer recording a round every 0.1 s:")
    for (name, write), (p50, p99, n, w) in busy.items():
        writer = f"; record median {w:7.3f} ms" if write else ""
        print(f"  {name:<8} {'+ writer' if write else 'alone':<8} read median {p50:8.3f} ms, "
              f"p99 {p99:8.3f} ms, {n:5d} reads{writer}")


if __name__ == "__main__":
    sys.exit(main())

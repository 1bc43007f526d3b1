"""Probe history in the shared Redis: what every replica shows, on any host.

Why Redis and not each host's SQLite file (``datasources.history``) with only the probe
lease's holder writing: the lease moves when its holder stops, so the history would be split
between hosts' files, and each replica would show the uptime of whichever file it has. One
history in the store every replica already shares has no such seams.

Same model and figures as ``ProbeHistory``: per-minute buckets, kept 7 days, each holding
its service's running totals, so a window's uptime is the newest bucket's totals minus the
totals just before the window's first bucket: a few lookups, whatever the history's length.
Per service, a hash ``hist:b:<name>`` maps a minute to "n up latency_sum latency_n n_total
up_total", and a sorted set ``hist:m:<name>`` orders the minutes. A round is written by one
Lua script, so a reader sees all of it or none of it.

With Redis down a round is not recorded (the log says so) and readers get no figures until
it is back: the cards show "no data" rather than another replica's different story.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from datasources.history import KEEP_SECONDS, WINDOWS
from datasources.probes import ProbeResult
from datasources.stores import RedisStore, StoreUnavailable

log = logging.getLogger(__name__)

_SPLIT = """
local function split(s)
  local t = {}
  for w in string.gmatch(s, '%S+') do t[#t + 1] = tonumber(w) end
  return t
end
"""

# KEYS: hash, zset per row; ARGV: horizon, then minute, up, ms, has_ms per row.
_RECORD = _SPLIT + """
local horizon = ARGV[1]
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local minute, up = ARGV[4 * i - 2], tonumber(ARGV[4 * i - 1])
  local ms, has = tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1])
  local cur = redis.call('hget', h, minute)
  local b
  if cur then
    b = split(cur)
    b = {b[1] + 1, b[2] + up, b[3] + ms, b[4] + has, b[5] + 1, b[6] + up}
  else
    local nt, ut = 0, 0
    local prev = redis.call('zrevrangebyscore', z, '(' .. minute, '-inf', 'limit', 0, 1)
    if prev[1] then
      local p = split(redis.call('hget', h, prev[1]))
      nt, ut = p[5], p[6]
    end
    b = {1, up, ms, has, nt + 1, ut + up}
    redis.call('zadd', z, minute, minute)
  end
  redis.call('hset', h, minute, string.format('%d %d %.17g %d %d %d', unpack(b)))
  -- A probe dated before newer buckets (a clock set back) counts in their totals too.
  for _, m in ipairs(redis.call('zrangebyscore', z, '(' .. minute, '+inf')) do
    local p = split(redis.call('hget', h, m))
    p[5], p[6] = p[5] + 1, p[6] + up
    redis.call('hset', h, m, string.format('%d %d %.17g %d %d %d', unpack(p)))
  end
  for _, m in ipairs(redis.call('zrangebyscore', z, '-inf', '(' .. horizon)) do
    redis.call('hdel', h, m)
  end
  redis.call('zremrangebyscore', z, '-inf', '(' .. horizon)
end
return 1
"""

# KEYS: hash, zset per name; ARGV: the windows' first minutes. Per name: the newest bucket,
# then each window's first bucket (or "" when the window has none), as their text.
_UPTIME = """
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local newest = redis.call('zrevrange', z, 0, 0)[1]
  out[#out + 1] = newest and redis.call('hget', h, newest) or ''
  for j = 1, #ARGV do
    local first = redis.call('zrangebyscore', z, ARGV[j], '+inf', 'limit', 0, 1)[1]
    out[#out + 1] = first and redis.call('hget', h, first) or ''
  end
end
return out
"""


def _bucket(text: str) -> list[float]:
    return [float(x) for x in text.split()]


class RedisHistory:
    """``ProbeHistory``'s methods (record, failures, states, changes, uptime, latency) on the
    shared Redis store."""

    def __init__(self, store: RedisStore, *, now: Callable[[], float] = time.time):
        self.store = store
        self.now = now
        self._record = store.client.register_script(_RECORD)
        self._uptime = store.client.register_script(_UPTIME)
        self._missing = False

    def _keys(self, name: str) -> list[str]:
        return [f"{self.store.prefix}hist:b:{name}", f"{self.store.prefix}hist:m:{name}"]

    def record(self, results: Iterable[ProbeResult],
               failures: Mapping[str, int] | None = None) -> None:
        """Add one probe round to the minute buckets, note each service's state (and its
        failures in a row, for retries) and drop what is older than 7 days."""
        results = list(results)
        keys, args = [], [int((self.now() - KEEP_SECONDS) // 60)]
        for r in results:
            keys += self._keys(r.name)
            args += [int(r.checked_at // 60), int(r.up), float(r.latency_ms or 0.0),
                     int(r.latency_ms is not None)]
        if not keys:
            return
        try:
            self.store.run(lambda c: self._record(keys=keys, args=args))
            self.store.run(lambda c: self._note_states(c, results, failures or {}))
        except StoreUnavailable as exc:
            if not self._missing:  # once per outage: the prober tries every interval
                log.warning("probe rounds not recorded until it is back: %s", exc)
            self._missing = True
        else:
            self._missing = False

    # Only the prober lease's holder writes a round, so reading the states and then writing
    # them (not one script) cannot race another writer.
    def _note_states(self, c, results: Sequence[ProbeResult], failures: Mapping[str, int]):
        states_key, changes_key = self._state_keys()
        names = [r.name for r in results]
        before = dict(zip(names, c.hmget(states_key, names), strict=True)) if names else {}
        pipe = c.pipeline(transaction=True)
        for r in results:
            old = json.loads(_decode(before[r.name]) or "null")
            since = old[1] if old and old[0] == r.state else r.checked_at
            if not old or old[0] != r.state:
                pipe.zadd(changes_key, {json.dumps([r.name, r.checked_at, r.state, r.detail]):
                                        r.checked_at})
            pipe.hset(states_key, r.name, json.dumps([r.state, since, failures.get(r.name, 0)]))
        pipe.zremrangebyscore(changes_key, "-inf", f"({self.now() - KEEP_SECONDS}")
        pipe.execute()

    def _state_keys(self) -> tuple[str, str]:
        return f"{self.store.prefix}hist:state", f"{self.store.prefix}hist:changes"

    def _states(self, names: Sequence[str]) -> dict[str, list]:
        if not names:
            return {}
        try:
            rows = self.store.run(lambda c: c.hmget(self._state_keys()[0], list(names)))
        except StoreUnavailable:
            return {}
        return {n: json.loads(_decode(x)) for n, x in zip(names, rows, strict=True) if x}

    def failures(self, names: Sequence[str]) -> dict[str, int]:
        """Each service's failed probes in a row so far (0 when up or never probed)."""
        return {n: int(v[2]) for n, v in self._states(names).items()}

    def states(self, names: Sequence[str]) -> dict[str, tuple[str, float]]:
        """Each probed service's state and since when it has been in it (epoch seconds)."""
        return {n: (v[0], float(v[1])) for n, v in self._states(names).items()}

    def changes(self, names: Sequence[str], since: float | None = None
                ) -> list[tuple[str, float, str, str]]:
        """Changes of state, oldest first: (name, at, new state, the probe's detail then);
        over the kept 7 days unless ``since`` says from when."""
        since = self.now() - KEEP_SECONDS if since is None else since
        try:
            rows = self.store.run(lambda c: c.zrangebyscore(self._state_keys()[1], since, "+inf"))
        except StoreUnavailable:
            return []
        wanted = set(names)
        found = [tuple(json.loads(_decode(x))) for x in rows]
        return sorted((r for r in found if r[0] in wanted), key=lambda r: (r[1], r[0]))

    def uptime(self, names: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """Uptime ratio (0..1, None without data) per service over 1 h, 24 h and 7 d."""
        out: dict[str, dict[str, float | None]] = {n: dict.fromkeys(WINDOWS) for n in names}
        now = self.now()
        since = [int((now - seconds) // 60) for seconds in WINDOWS.values()]
        keys = [k for n in names for k in self._keys(n)]
        try:
            rows = self.store.run(lambda c: self._uptime(keys=keys, args=since)) if keys else []
        except StoreUnavailable:
            return out
        step = 1 + len(WINDOWS)
        for i, name in enumerate(names):
            newest, *firsts = (_decode(x) for x in rows[i * step:(i + 1) * step])
            if not newest:
                continue
            last = _bucket(newest)
            for label, first in zip(WINDOWS, firsts, strict=True):
                if first:
                    b = _bucket(first)
                    n_before, up_before = b[4] - b[0], b[5] - b[1]
                    out[name][label] = (last[5] - up_before) / (last[4] - n_before)
        return out

    def latency(self, names: Sequence[str], minutes: int = 60
                ) -> dict[str, list[tuple[int, float]]]:
        """Average latency per minute over the last ``minutes``: (minute start, ms) pairs."""
        since = int(self.now() // 60) - minutes + 1
        out: dict[str, list[tuple[int, float]]] = {n: [] for n in names}

        def read(c):
            pipe = c.pipeline(transaction=False)
            for name in names:
                pipe.zrangebyscore(self._keys(name)[1], since, "+inf")
            minutes_of = pipe.execute()
            for name, found in zip(names, minutes_of, strict=True):
                pipe.hmget(self._keys(name)[0], found) if found else pipe.echo("")
            return minutes_of, pipe.execute()

        try:
            minutes_of, buckets = self.store.run(read)
        except StoreUnavailable:
            return out
        for name, found, texts in zip(names, minutes_of, buckets, strict=True):
            for minute, text in zip(found or [], texts or [], strict=False):
                if text:
                    b = _bucket(_decode(text))
                    if b[3] > 0:
                        out[name].append((int(minute) * 60, b[2] / b[3]))
        return out


def _decode(x) -> str:
    return x.decode() if isinstance(x, bytes) else (x or "")

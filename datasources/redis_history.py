"""Probe history in the shared Redis: what every replica shows, on any host.

Why Redis and not each host's SQLite file (``datasources.history``) with only the probe
lease's holder writing: the lease moves when its holder stops, so the history would be split
between hosts' files, and each replica would show the uptime of whichever file it has. One
history in the store every replica already shares has no such seams.

Same model, methods and figures as ``ProbeHistory``. Per service (``<p>`` the store's prefix):

- ``<p>hist:b:<name>`` hash minute -> "n up latency_sum latency_n n_total up_total pending
  maint maint_total" and ``hist:m:<name>`` the minutes in order: the per-minute buckets with
  running totals, so a window's uptime is the newest bucket's totals minus the totals just
  before the window's first bucket (a few lookups, whatever the history's length); kept 7 d;
- ``hist:s:<name>`` hash: state, since, failures in a row, detail;
- sorted sets scored by time: ``hist:c:`` changes of state ("at state detail"), ``hist:p:``
  raw probes ("at state latency detail", kept ``keep_recent``), ``hist:r:`` runs and
  ``hist:f:`` the failing ones among them ("start last n state detail"), ``hist:sp:`` spans
  ("start last"); each trimmed on write to what SQLite keeps.

Times travel as Python's exact text (``repr``) and are never formatted by Lua (whose numbers
print with 14 digits), so they come back to the bit. A round is written by one Lua script: a
reader sees all of it or none of it. Every key written expires once 7 days pass without a
write, so a service taken out of the config leaves nothing behind.

With Redis down a round is not recorded (the log says so) and readers get no figures until
it is back: the cards show "no data" rather than another replica's different story.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from datasources.history import GAP_SECONDS, KEEP_RECENT_SECONDS, KEEP_SECONDS, WINDOWS
from datasources.probes import MAINTENANCE, PENDING, ProbeResult
from datasources.stores import RedisStore, StoreUnavailable
from query.incidents import Incident, Probe, Run, incidents
from query.probe_state import FAILING, state

log = logging.getLogger(__name__)

#: keys a service has, in the order the record script takes them
_KINDS = ("b", "m", "s", "c", "p", "r", "f", "sp")
#: a key not written for this long (a service taken out of the config) goes
_EXPIRE_SECONDS = KEEP_SECONDS + 3600

_SPLIT = """
local function split(s)
  local t = {}
  -- (s false: a bucket evicted by maxmemory while its minute stayed: counted from zero)
  for w in string.gmatch(s or '', '%S+') do t[#t + 1] = tonumber(w) end
  for j = #t + 1, 9 do t[j] = 0 end  -- a bucket written before states had 6 fields
  return t
end
local function fmt(b)
  return string.format('%d %d %.17g %d %d %d %d %d %d', unpack(b))
end
"""

# KEYS: the 8 keys of _KINDS per row. ARGV: the oldest minute kept, the oldest time kept for
# changes, runs and spans, the oldest raw probe kept, the gap, the keys' expiry; then 12 per
# row: minute, up, ms, has_ms, pending, maint, state, at, detail, failures, the probe's state
# (runs), its latency text. Times stay text: Lua would print them with 14 digits only.
_RECORD = _SPLIT + """
local horizon, keep, recent = ARGV[1], ARGV[2], ARGV[3]
local keepn, gap, ttl = tonumber(ARGV[2]), tonumber(ARGV[4]), ARGV[5]
local function trim_by_last(z, zf)  -- runs and spans are disjoint: only starts before keep
  for _, m in ipairs(redis.call('zrangebyscore', z, '-inf', '(' .. keep)) do
    if tonumber(string.match(m, '^%S+ (%S+)')) < keepn then
      redis.call('zrem', z, m)
      if zf then redis.call('zrem', zf, m) end
    end
  end
end
for i = 1, #KEYS / 8 do
  local k, a = 8 * (i - 1), 5 + 12 * (i - 1)
  local hb, zm, hs, zc = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local zp, zr, zf, zs = KEYS[k + 5], KEYS[k + 6], KEYS[k + 7], KEYS[k + 8]
  local minute, up, ms = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local has, pend, maint = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local st, at, detail, failures = ARGV[a + 7], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10]
  local pst, lat = ARGV[a + 11], ARGV[a + 12]
  local atn = tonumber(at)
  -- the minute bucket, its running totals from the bucket before it
  local cur = redis.call('hget', hb, minute)
  local b
  if cur then
    b = split(cur)
    b = {b[1] + 1, b[2] + up, b[3] + ms, b[4] + has, b[5] + 1, b[6] + up, b[7] + pend,
         b[8] + maint, b[9] + maint}
  else
    local p = {0, 0, 0, 0, 0, 0, 0, 0, 0}
    local prev = redis.call('zrevrangebyscore', zm, '(' .. minute, '-inf', 'limit', 0, 1)
    if prev[1] then p = split(redis.call('hget', hb, prev[1])) end
    b = {1, up, ms, has, p[5] + 1, p[6] + up, pend, maint, p[9] + maint}
    redis.call('zadd', zm, minute, minute)
  end
  redis.call('hset', hb, minute, fmt(b))
  -- A probe dated before newer buckets (a clock set back) counts in their totals too.
  for _, m in ipairs(redis.call('zrangebyscore', zm, '(' .. minute, '+inf')) do
    local p = split(redis.call('hget', hb, m))
    p[5], p[6], p[9] = p[5] + 1, p[6] + up, p[9] + maint
    redis.call('hset', hb, m, fmt(p))
  end
  for _, m in ipairs(redis.call('zrangebyscore', zm, '-inf', '(' .. horizon)) do
    redis.call('hdel', hb, m)
  end
  redis.call('zremrangebyscore', zm, '-inf', '(' .. horizon)
  -- the state, since when, failures in a row; a change of state noted
  if redis.call('hget', hs, 'state') ~= st then
    redis.call('zremrangebyscore', zc, at, at)
    redis.call('zadd', zc, at, at .. ' ' .. st .. ' ' .. detail)
    redis.call('hset', hs, 'state', st, 'since', at, 'failures', failures, 'detail', detail)
  else
    redis.call('hset', hs, 'failures', failures, 'detail', detail)
  end
  redis.call('zremrangebyscore', zc, '-inf', '(' .. keep)
  -- the raw probe
  redis.call('zremrangebyscore', zp, at, at)
  redis.call('zadd', zp, at, at .. ' ' .. pst .. ' ' .. lat .. ' ' .. detail)
  redis.call('zremrangebyscore', zp, '-inf', '(' .. recent)
  -- its run extended or a new one begun (a probe dated before the newest: buckets only)
  local newest = redis.call('zrevrange', zr, 0, 0)[1]
  local rs, rl, rn, rst, rd
  if newest then
    rs, rl, rn, rst, rd = string.match(newest, '^(%S+) (%S+) (%S+) (%S+) (.*)$')
    rl = tonumber(rl)
  end
  if newest and rst == pst and atn - rl >= 0 and atn - rl <= gap then
    local member = rs .. ' ' .. at .. ' ' .. (tonumber(rn) + 1) .. ' ' .. rst .. ' ' .. rd
    redis.call('zrem', zr, newest)
    redis.call('zadd', zr, rs, member)
    if rst == 'FAILING' then
      redis.call('zrem', zf, newest)
      redis.call('zadd', zf, rs, member)
    end
  elseif not newest or atn > rl then
    for _, m in ipairs(redis.call('zrangebyscore', zr, at, at)) do redis.call('zrem', zf, m) end
    redis.call('zremrangebyscore', zr, at, at)
    local member = at .. ' ' .. at .. ' 1 ' .. pst .. ' ' .. detail
    redis.call('zadd', zr, at, member)
    if pst == 'FAILING' then redis.call('zadd', zf, at, member) end
  end
  trim_by_last(zr, zf)
  -- its span of watching extended or a new one begun
  local span = redis.call('zrevrange', zs, 0, 0)[1]
  local ss, sl
  if span then
    ss, sl = string.match(span, '^(%S+) (%S+)$')
    sl = tonumber(sl)
  end
  if span and atn - sl >= 0 and atn - sl <= gap then
    redis.call('zrem', zs, span)
    redis.call('zadd', zs, ss, ss .. ' ' .. at)
  elseif not span or atn > sl then
    redis.call('zremrangebyscore', zs, at, at)
    redis.call('zadd', zs, at, at .. ' ' .. at)
  end
  trim_by_last(zs, nil)
  for j = 1, 8 do redis.call('expire', KEYS[k + j], ttl) end
end
return 1
""".replace("'FAILING'", repr(FAILING))

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

# Replies travel packed, one string per name: redis-py's pure-Python parser costs some 10 us
# per string, a 24-hour latency read is 1 440 of them per service. ``pack`` joins as
# "<bytes>:<text>" each (details may hold any character); ``_unpack`` splits them.
_PACK = """
local function pack(t)
  local out = {}
  for i, m in ipairs(t) do out[i] = #m .. ':' .. m end
  return table.concat(out)
end
"""

# KEYS: failing runs, runs per name; ARGV: how many. Per name, packed: its newest failing
# runs, each followed by the start of the run right after it ("" when none).
_INCIDENTS = _PACK + """
local out = {}
for i = 1, #KEYS / 2 do
  local found = {}
  for _, m in ipairs(redis.call('zrevrange', KEYS[2 * i - 1], 0, tonumber(ARGV[1]) - 1)) do
    local after = redis.call('zrangebyscore', KEYS[2 * i], '(' .. string.match(m, '^(%S+)'),
                             '+inf', 'limit', 0, 1)[1]
    found[#found + 1] = m
    found[#found + 1] = after and string.match(after, '^(%S+)') or ''
  end
  out[#out + 1] = pack(found)
end
return out
"""

# KEYS: hash, zset per name; ARGV: the first minute. Per name, packed: minute, its average
# latency, ... (minutes with a latency only).
_LATENCY = _PACK + """
local out = {}
for i = 1, #KEYS / 2 do
  local minutes = redis.call('zrangebyscore', KEYS[2 * i], ARGV[1], '+inf')
  local found = {}
  for from = 1, #minutes, 1000 do  -- unpack takes a few thousand values at most
    local to = math.min(from + 999, #minutes)
    local texts = redis.call('hmget', KEYS[2 * i - 1], unpack(minutes, from, to))
    for j = from, to do
      local sum, n = string.match(texts[j - from + 1] or '', '^%S+ %S+ (%S+) (%S+)')
      if n and tonumber(n) > 0 then  -- %.17g: the average to the bit, as Python has it
        found[#found + 1] = minutes[j]
        found[#found + 1] = string.format('%.17g', tonumber(sum) / tonumber(n))
      end
    end
  end
  out[#out + 1] = pack(found)
end
return out
"""

# KEYS: sorted sets; ARGV: how many of the newest. Per key, packed: its newest members.
_NEWEST = _PACK + """
local out = {}
for i = 1, #KEYS do
  out[i] = pack(redis.call('zrevrange', KEYS[i], 0, tonumber(ARGV[1]) - 1))
end
return out
"""


def _unpack(blob) -> list[str]:
    """A packed reply's strings."""
    blob = blob.encode() if isinstance(blob, str) else (blob or b"")
    out, i = [], 0
    while i < len(blob):
        j = blob.index(b":", i)
        end = j + 1 + int(blob[i:j])
        out.append(blob[j + 1:end].decode())
        i = end
    return out


def _bucket(text: str) -> list[float]:
    b = [float(x) for x in text.split()]
    return b + [0.0] * (9 - len(b))  # a bucket written before states: no pending/maint


def _time(x: float) -> str:
    """A time as exact text (Redis parses scores with strtod: the same double)."""
    return repr(float(x))


def _run(name: str, text: str) -> Run:
    start, last, n, st, detail = text.split(" ", 4)
    return Run(name, st, float(start), float(last), detail, int(n))


class RedisHistory:
    """``ProbeHistory``'s interface and figures on the shared Redis store."""

    def __init__(self, store: RedisStore, *, now: Callable[[], float] = time.time,
                 gap: float = GAP_SECONDS, keep_recent: float = KEEP_RECENT_SECONDS):
        self.store = store
        self.now = now
        #: probes further apart than this belong to different stretches of watching
        self.gap = gap
        self.keep_recent = keep_recent
        self._record = store.client.register_script(_RECORD)
        self._uptime = store.client.register_script(_UPTIME)
        self._incidents = store.client.register_script(_INCIDENTS)
        self._latency = store.client.register_script(_LATENCY)
        self._newest = store.client.register_script(_NEWEST)
        self._missing = False

    def _key(self, kind: str, name: str) -> str:
        return f"{self.store.prefix}hist:{kind}:{name}"

    def _keys(self, name: str) -> list[str]:
        return [self._key("b", name), self._key("m", name)]

    def record(self, results: Iterable[ProbeResult],
               failures: Mapping[str, int] | None = None) -> None:
        """Add one probe round (buckets, states, raw probes, runs, spans) in one script and
        drop what SQLite would: buckets and changes, runs, spans over 7 days, raw probes over
        ``keep_recent``."""
        failures = failures or {}
        now = self.now()
        keys: list[str] = []
        args: list = [int((now - KEEP_SECONDS) // 60), _time(now - KEEP_SECONDS),
                      _time(now - self.keep_recent), _time(self.gap), _EXPIRE_SECONDS]
        for r in results:
            keys += [self._key(kind, r.name) for kind in _KINDS]
            args += [int(r.checked_at // 60), int(r.up), _time(r.latency_ms or 0.0),
                     int(r.latency_ms is not None), int(r.state == PENDING),
                     int(r.state == MAINTENANCE), r.state, _time(r.checked_at), r.detail,
                     int(failures.get(r.name, 0)), state(r),
                     "-" if r.latency_ms is None else _time(r.latency_ms)]
        if not keys:
            return
        try:
            self.store.run(lambda c: self._record(keys=keys, args=args))
        except StoreUnavailable as exc:
            if not self._missing:  # once per outage: the prober tries every interval
                log.warning("probe rounds not recorded until it is back: %s", exc)
            self._missing = True
        else:
            self._missing = False

    def _each(self, names: Sequence[str], command) -> list | None:
        """``command(pipe, name)`` for every name in one MULTI/EXEC (one consistent view);
        None with Redis down."""
        def read(c):
            pipe = c.pipeline(transaction=True)
            for name in names:
                command(pipe, name)
            return pipe.execute()
        if not names:
            return []
        try:
            return self.store.run(read)
        except StoreUnavailable:
            return None

    def uptime(self, names: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """Uptime ratio (0..1, None without data) per service over 1 h, 24 h and 7 d;
        maintenance left out, pending not up (as ``ProbeHistory.uptime``)."""
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
                    n_before, up_before, m_before = b[4] - b[0], b[5] - b[1], b[8] - b[7]
                    counted = (last[4] - n_before) - (last[8] - m_before)
                    if counted > 0:
                        out[name][label] = (last[5] - up_before) / counted
        return out

    def _state_rows(self, names: Sequence[str]) -> list[tuple[str, list]]:
        rows = self._each(names, lambda pipe, n: pipe.hmget(
            self._key("s", n), ["state", "since", "failures"])) or []
        return [(name, [_decode(x) for x in row]) for name, row in zip(names, rows, strict=False)
                if row[0] is not None]

    def failures(self, names: Sequence[str]) -> dict[str, int]:
        """Each service's failed probes in a row so far (0 when up; absent when never probed)."""
        return {name: int(row[2]) for name, row in self._state_rows(names)}

    def states(self, names: Sequence[str]) -> dict[str, tuple[str, float]]:
        """Each probed service's state and since when it has been in it (epoch seconds)."""
        return {name: (row[0], float(row[1])) for name, row in self._state_rows(names)}

    def changes(self, names: Sequence[str], since: float | None = None
                ) -> list[tuple[str, float, str, str]]:
        """Changes of state, oldest first: (name, at, new state, the probe's detail then);
        over the kept 7 days unless ``since`` says from when."""
        since = self.now() - KEEP_SECONDS if since is None else since
        found = self._each(names, lambda pipe, n: pipe.zrangebyscore(
            self._key("c", n), _time(since), "+inf")) or []
        out = []
        for name, members in zip(names, found, strict=False):
            for m in members:
                at, st, detail = _decode(m).split(" ", 2)
                out.append((name, float(at), st, detail))
        out.sort(key=lambda c: (c[1], c[0]))
        return out

    def latency(self, names: Sequence[str], minutes: int = 60
                ) -> dict[str, list[tuple[int, float]]]:
        """Average latency per minute over the last ``minutes``: (minute start, ms) pairs."""
        since = int(self.now() // 60) - minutes + 1
        out: dict[str, list[tuple[int, float]]] = {n: [] for n in names}
        keys = [k for n in names for k in self._keys(n)]
        try:
            found = self.store.run(lambda c: self._latency(keys=keys, args=[since])) if keys \
                else []
        except StoreUnavailable:
            return out
        for name, blob in zip(names, found, strict=True):
            packed = _unpack(blob)
            out[name] = [(int(minute) * 60, float(ms))
                         for minute, ms in zip(packed[::2], packed[1::2], strict=True)]
        return out

    def recent(self, names: Sequence[str], n: int) -> dict[str, list[Probe]]:
        """The last ``n`` probes (of the kept ``keep_recent``) per service, oldest first."""
        out: dict[str, list[Probe]] = {name: [] for name in names}
        if n == 0:
            return out
        keys = [self._key("p", name) for name in names]
        try:
            found = self.store.run(lambda c: self._newest(keys=keys, args=[max(n, 0)])) if keys \
                else []
        except StoreUnavailable:
            return out
        for name, blob in zip(names, found, strict=True):
            for m in reversed(_unpack(blob)):
                at, st, ms, detail = m.split(" ", 3)
                out[name].append(Probe(name, float(at), st, None if ms == "-" else float(ms),
                                       detail))
        return out

    def current_runs(self, names: Sequence[str]) -> dict[str, Run | None]:
        """Each service's newest run (its state now and since when), None before any probe."""
        out: dict[str, Run | None] = dict.fromkeys(names)
        found = self._each(names, lambda pipe, n: pipe.zrevrange(self._key("r", n), 0, 0))
        for name, members in zip(names, found or [], strict=False):
            if members:
                out[name] = _run(name, _decode(members[0]))
        return out

    def coverage(self, names: Sequence[str]) -> dict[str, dict[str, float]]:
        """Seconds of each window (1 h, 24 h, 7 d) that the history covers, per service."""
        now = self.now()
        out = {name: dict.fromkeys(WINDOWS, 0.0) for name in names}
        oldest = _time(now - max(WINDOWS.values()))

        def spans(pipe, name):
            # Spans are disjoint: of those begun before the oldest window only the newest
            # may reach into it.
            pipe.zrevrangebyscore(self._key("sp", name), f"({oldest}", "-inf", start=0, num=1)
            pipe.zrangebyscore(self._key("sp", name), oldest, "+inf")
        found = self._each(names, spans) or []
        for i, name in enumerate(names[:len(found) // 2]):
            kept = [tuple(float(x) for x in _decode(m).split())
                    for m in found[2 * i] + found[2 * i + 1]]
            for label, seconds in WINDOWS.items():
                since = now - seconds
                covered = [max(0, min(last, now) - max(start, since))
                           for start, last in kept if last >= since]
                if covered:
                    out[name][label] = float(sum(covered))
        return out

    def incidents(self, names: Sequence[str], limit: int) -> list[Incident]:
        """The newest ``limit`` outages of these services, newest first."""
        if limit <= 0 or not names:
            return []
        keys = [k for n in names for k in (self._key("f", n), self._key("r", n))]
        try:
            found = self.store.run(lambda c: self._incidents(keys=keys, args=[limit]))
        except StoreUnavailable:
            return []
        failing = []
        for name, blob in zip(names, found, strict=True):
            packed = _unpack(blob)
            failing += [(_run(name, m), after)
                        for m, after in zip(packed[::2], packed[1::2], strict=True)]
        failing.sort(key=lambda f: (f[0].start, f[0].name), reverse=True)
        runs: dict[tuple[str, float], Run] = {}
        for run, after in failing[:limit]:
            runs[run.name, run.start] = run
            # Only its start matters (the first probe after the failures); a failing run of
            # its own, fetched too, keeps its whole row.
            if after:
                runs.setdefault((run.name, float(after)),
                                Run(run.name, "next", float(after), float(after)))
        return incidents(runs.values(), now=self.now(), gap=self.gap, limit=limit)


def _decode(x) -> str:
    return x.decode() if isinstance(x, bytes) else (x or "")

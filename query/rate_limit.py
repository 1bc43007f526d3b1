"""Per-session rate limits: token buckets, kept in memory, with an injected clock.

A bucket holds ``count`` tokens and refills at ``count`` per ``per`` seconds; an action takes
one token or is refused with the seconds until the next one. Buckets are keyed by (session,
action); the least recently used are forgotten past ``max_keys``, so a client inventing
session ids costs a bounded amount of memory (and each invented id its own small budget).

In memory, per process: the dashboard is one process (waitress, threads). Behind several
gunicorn workers each worker keeps its own buckets, so a session may get up to one budget per
worker — still bounded, and no shared store is needed for it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple


class Limit(NamedTuple):
    """At most ``count`` actions per ``per`` seconds (a burst of ``count`` allowed)."""

    count: int
    per: float


class RateLimiter:
    """Token buckets by key; thread-safe."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self.now, self.max_keys = now, max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: Hashable, limit: Limit) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is free (none taken)."""
        rate = limit.count / limit.per
        with self._lock:
            now = self.now()
            tokens, last = self._buckets.pop(key, (float(limit.count), now))
            tokens = min(limit.count, tokens + (now - last) * rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def wait_text(seconds: float) -> str:
    """'1 s', '12 s': how long until the next try (rounded up)."""
    return f"{max(1, int(-(-seconds // 1)))} s"


# --- the export queue's order ----------------------------------------------------------------

def exports_ahead(states: dict[int, str], mine: int) -> int:
    """Exports ahead of ticket ``mine``: those running, and those waiting since before it.

    ``states`` maps ticket numbers (handed out in arrival order) to "running" or "waiting".
    An export may start when fewer than the cap are ahead of it.
    """
    return sum(1 for t, state in states.items()
               if t != mine and (state == "running" or (state == "waiting" and t < mine)))

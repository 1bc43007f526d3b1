"""The Status tab's data: a throttled probe round plus the persisted history."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from config import Service
from datasources.cache import Cache, Result, cache_key
from datasources.history import ProbeHistory
from datasources.probes import ProbeResult, probe_all

log = logging.getLogger(__name__)


@dataclass
class StatusSource:
    """Probe rounds through the cache, so N browser tabs cause one round per TTL."""

    services: Sequence[Service]
    cache: Cache
    history: ProbeHistory
    ttl: float = 2.0
    probe_round: Callable[[Sequence[Service]], list[ProbeResult]] = probe_all
    #: seconds between the background prober's rounds (``refresh.status``)
    interval: float = 3.0
    #: called with each real round's results, once per round across processes (notify.py)
    listeners: list[Callable[[list[ProbeResult]], None]] = field(default_factory=list)

    def snapshot(self, force: bool = False) -> Result[list[ProbeResult]]:
        """The latest probe round; ``force`` skips the throttle ("Refresh now")."""
        return self._get(self.ttl, force)

    def latest(self) -> Result[list[ProbeResult]]:
        """The latest round for a viewer: the background prober's, so viewers cost no probes.

        A viewer runs a round itself only when none is younger than one prober interval plus
        a round's bound (no prober in this cache, or it stalled): the probe rate stays one
        round per interval however many browsers watch.
        """
        return self._get(max(self.ttl, self.interval + self._round_bound()), False)

    def _get(self, ttl: float, force: bool) -> Result[list[ProbeResult]]:
        key = cache_key("status", [s.target for s in self.services],
                        [s.name for s in self.services])
        # A round ends within probe_all's bound; a caller waits for another's no longer.
        return self.cache.get(key, self._round, ttl=ttl, upstream="probes", force=force,
                              wait=self._round_bound())

    def _round_bound(self) -> float:
        return max((s.timeout for s in self.services), default=1.0) * 2 + 1

    def _round(self) -> list[ProbeResult]:
        results = self.probe_round(self.services)
        # Recorded here, inside the single flight, so each real round is counted once.
        self.history.record(results)
        for listener in self.listeners:
            try:
                listener(results)
            except Exception:  # a listener's failure must not lose the round
                log.exception("probe round listener failed")
        return results

    def uptime(self) -> dict[str, dict[str, float | None]]:
        """Uptime ratios per service over 1 h, 24 h and 7 d."""
        return self.history.uptime([s.name for s in self.services])

    def latency(self) -> dict[str, list[tuple[int, float]]]:
        """Per-minute average latency over the last hour, per service."""
        return self.history.latency([s.name for s in self.services])

    def probe_in_background(self, interval: float) -> threading.Event:
        """Keep probing every ``interval`` s with no browser open, so uptime has no holes.

        Several server processes may each run this: the cache lets one round through per TTL.
        Returns the event that stops the thread.
        """
        stop = threading.Event()

        def loop():
            while not stop.wait(interval):
                try:
                    self.snapshot()
                except RuntimeError as exc:
                    if "interpreter shutdown" in str(exc):
                        return  # the process is exiting: its thread pools take no more work
                    log.exception("background probe round failed")
                except Exception:  # a bad round must not end the thread
                    log.exception("background probe round failed")

        threading.Thread(target=loop, name="status-prober", daemon=True).start()
        return stop

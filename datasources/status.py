"""The Status tab's data: a throttled probe round plus the persisted history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config import Service
from datasources.cache import Cache, Result, cache_key
from datasources.history import ProbeHistory
from datasources.probes import ProbeResult, probe_all


@dataclass
class StatusSource:
    """Probe rounds through the cache, so N browser tabs cause one round per TTL."""

    services: Sequence[Service]
    cache: Cache
    history: ProbeHistory
    ttl: float = 2.0
    probe_round: Callable[[Sequence[Service]], list[ProbeResult]] = probe_all

    def snapshot(self, force: bool = False) -> Result[list[ProbeResult]]:
        """The latest probe round; ``force`` skips the throttle ("Refresh now")."""
        key = cache_key("status", [s.target for s in self.services],
                        [s.name for s in self.services])
        return self.cache.get(key, self._round, ttl=self.ttl, upstream="probes", force=force)

    def _round(self) -> list[ProbeResult]:
        results = self.probe_round(self.services)
        # Recorded here, inside the single flight, so each real round is counted once.
        self.history.record(results)
        return results

    def uptime(self) -> dict[str, dict[str, float | None]]:
        """Uptime ratios per service over 1 h, 24 h and 7 d."""
        return self.history.uptime([s.name for s in self.services])

    def latency(self) -> dict[str, list[tuple[int, float]]]:
        """Per-minute average latency over the last hour, per service."""
        return self.history.latency([s.name for s in self.services])

"""The Status tab's data: a throttled probe round plus the persisted history."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import telemetry
from config import Service
from datasources.cache import Cache, Result, cache_key
from datasources.history import ProbeHistory
from datasources.probes import (
    ProbeResult,
    apply_known_answers,
    apply_maintenance,
    apply_retries,
    probe_all,
)
from query.maintenance import Window

#: a known-answer check: None when the upstream answered right, else what went wrong
KnownAnswer = Callable[[], str | None]

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
    #: ``[[maintenance]]`` windows
    windows: Sequence[Window] = ()
    #: per service name, a known-answer query of the upstream it is (Prometheus, Loki)
    known_answers: Mapping[str, KnownAnswer] = field(default_factory=dict)
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
        # "status-2": rounds cached before probe states were (no ``state``) are never read.
        key = cache_key("status-2", [s.target for s in self.services],
                        [s.name for s in self.services])
        # A round ends within probe_all's bound; a caller waits for another's no longer.
        return self.cache.get(key, self._round, ttl=ttl, upstream="probes", force=force,
                              wait=self._round_bound())

    def _round_bound(self) -> float:
        return max((s.timeout for s in self.services), default=1.0) * 2 + 1

    def _round(self) -> list[ProbeResult]:
        with telemetry.PROBE_ROUND_SECONDS.time():
            results = probe_with_known_answers(self.services, self.known_answers,
                                               self._round_bound(), self.probe_round)
        # Inside the single flight (one round at a time, across processes sharing the cache):
        # the failures in a row read here are the ones the previous round recorded.
        names = [s.name for s in self.services]
        results, failures = apply_retries(results, self.services, self.history.failures(names))
        results = apply_maintenance(results, self.windows)
        # Recorded here, inside the single flight, so each real round is counted once.
        self.history.record(results, failures)
        for listener in self.listeners:
            try:
                listener(results)
            except Exception:  # a listener's failure must not lose the round
                log.exception("probe round listener failed")
        return results

    def states(self) -> dict[str, tuple[str, float]]:
        """Each service's state and since when (epoch seconds): "down since 14:02"."""
        return self.history.states([s.name for s in self.services])

    def changes(self, since: float | None = None) -> list[tuple[str, float, str, str]]:
        """Changes of state over the kept history, oldest first: (name, at, state, detail)."""
        return self.history.changes([s.name for s in self.services], since)

    def uptime(self) -> dict[str, dict[str, float | None]]:
        """Uptime ratios per service over 1 h, 24 h and 7 d."""
        return self.history.uptime([s.name for s in self.services])

    def latency(self) -> dict[str, list[tuple[int, float]]]:
        """Per-minute average latency over the last hour, per service."""
        return self.history.latency([s.name for s in self.services])

    def prober_round(self, interval: float) -> bool:
        """A background round, if this process holds the prober lease; whether it probed.

        Replicas sharing the cache each run a prober; the lease lets one of them probe per
        interval (the others' viewers read its rounds), and passes to another within two
        intervals and a round if the holder stops.
        """
        if not self.cache.lease("prober", 2 * interval + self._round_bound()):
            return False
        self.snapshot()
        return True

    def probe_in_background(self, interval: float) -> threading.Event:
        """Keep probing every ``interval`` s with no browser open, so uptime has no holes.

        Several server processes may each run this: one holds the prober lease and probes,
        and the cache lets one round through per TTL. Returns the event that stops the thread.
        """
        stop = threading.Event()

        def loop():
            while not stop.wait(interval):
                try:
                    self.prober_round(interval)
                except RuntimeError as exc:
                    if "interpreter shutdown" in str(exc):
                        return  # the process is exiting: its thread pools take no more work
                    log.exception("background probe round failed")
                except Exception:  # a bad round must not end the thread
                    log.exception("background probe round failed")

        threading.Thread(target=loop, name="status-prober", daemon=True).start()
        return stop


def probe_with_known_answers(services: Sequence[Service], known_answers: Mapping[str, KnownAnswer],
                             bound: float, probe_round: Callable = probe_all
                             ) -> list[ProbeResult]:
    """One probe round, with each known-answer check run beside it (not after: the round
    stays as long as its longest probe) and waited for until ``bound`` s from the start."""
    started = time.monotonic()
    wanted = {s.name: known_answers[s.name] for s in services if s.name in known_answers}
    if not wanted:
        return probe_round(services)
    pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="known-answer")
    try:
        checks = {name: pool.submit(check) for name, check in wanted.items()}
        results = probe_round(services)
        wait_for(checks.values(), timeout=max(0.0, started + bound - time.monotonic()))
        return apply_known_answers(results, {name: _outcome(f, bound)
                                             for name, f in checks.items()})
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _outcome(future: Future, bound: float) -> str | None:
    if not future.done():
        return f"no answer within {bound:g} s"
    if future.exception() is not None:
        return f"check failed: {future.exception()}"
    return future.result()


def health_problem(result: Result) -> str | None:
    """None when a health Result says the known answer came back now, else what went wrong."""
    if result.error is not None:
        return result.error.describe()
    if not result.value:
        return "vector(1)+vector(1) did not give 2"
    return None


def known_answer_checks(services: Iterable[Service],
                        upstreams: Iterable[tuple[str, Callable[[], Result]]]
                        ) -> dict[str, KnownAnswer]:
    """The services that are a configured upstream (same host and port as its URL), each with
    that upstream's health call; ``upstreams`` pairs a base URL with its ``health``."""
    by_address = {}
    for url, health in upstreams:
        if url:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            by_address[(parts.hostname, port)] = health
    checks = {}
    for s in services:
        health = by_address.get((s.host.strip("[]").lower(), s.port))
        if health is not None:
            checks[s.name] = (lambda h=health: health_problem(h()))
    return checks

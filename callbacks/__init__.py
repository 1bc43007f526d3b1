"""Thin callbacks, one module per tab: inputs → datasource calls → layout helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from callbacks import logs, metrics, range_picker, status
from config import Config
from datasources.alertmanager import Alertmanager
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.loki import Loki
from datasources.notify import Notifier
from datasources.prometheus import Prometheus
from datasources.status import StatusSource
from query.rate_limit import RateLimiter


@dataclass
class Deps:
    """What the callbacks may call: built once per app, passed in (tests pass their own)."""

    config: Config
    cache: Cache
    status: StatusSource
    prometheus: Prometheus | None = None
    alertmanager: Alertmanager | None = None  # None when [alertmanager] url is not set
    #: Loki for the Logs tab (with an empty loki.url it answers "no URL configured")
    loki: Loki | None = None
    #: per-session budgets: forced refreshes and typed queries (``callbacks.session``)
    limiter: RateLimiter = field(default_factory=RateLimiter)


def build_deps(config: Config, cache: Cache | None = None) -> Deps:
    """The production datasources for ``config``."""
    cache_dir = Path(config.cache.dir)
    cache = cache or Cache(cache_dir / "cache", backoff_max=config.cache.backoff_max,
                           size_limit=config.cache.size_limit)
    history = ProbeHistory(cache_dir / "probe-history.sqlite3")
    status = StatusSource(config.services, cache, history, ttl=config.cache.status_ttl,
                          interval=config.refresh.status)
    alertmanager = _alertmanager(config, cache)
    notify = config.section("alertmanager")
    if alertmanager is not None and notify.notify:
        # Inside the probe round's single flight: one process notifies per round.
        status.listeners.append(Notifier(alertmanager.post_alerts, config.services,
                                         repeat=notify.notify_interval))
    return Deps(config=config, cache=cache, status=status,
                prometheus=Prometheus(config.prometheus, cache),
                alertmanager=alertmanager,
                loki=Loki(config.loki, cache))


def _alertmanager(config: Config, cache: Cache) -> Alertmanager | None:
    return Alertmanager(config.alertmanager, cache) if config.alertmanager.enabled else None


def register_all(app, deps: Deps) -> None:
    """Wire every tab's callbacks to ``app``."""
    range_picker.register_tab_sync(app)
    status.register(app, deps)
    metrics.register(app, deps)
    logs.register(app, deps)

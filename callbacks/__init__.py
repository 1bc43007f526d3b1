"""Thin callbacks, one module per tab: inputs → datasource calls → layout helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

from callbacks import actions, audit, logs, metrics, range_picker, status
from config import Config
from datasources.alertmanager import Alertmanager
from datasources.cache import Cache
from datasources.history import GAP_SECONDS, KEEP_RECENT_SECONDS
from datasources.loki import Loki
from datasources.notify import Notifier
from datasources.prometheus import Prometheus
from datasources.shared_state import open_cache, open_history
from datasources.status import StatusSource, known_answer_checks
from layouts.status_history import HEARTBEAT
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
    cache = cache or open_cache(config)
    history = open_history(config, cache, **history_spans(config))
    prometheus, loki = Prometheus(config.prometheus, cache), Loki(config.loki, cache)
    checks = known_answer_checks(config.services, [(config.prometheus.url, prometheus.health),
                                                   (config.loki.url, loki.health)])
    status = StatusSource(config.services, cache, history, ttl=config.cache.status_ttl,
                          interval=config.refresh.status, windows=config.maintenance,
                          known_answers=checks)
    alertmanager = _alertmanager(config, cache)
    notify = config.section("alertmanager")
    if alertmanager is not None and notify.notify:
        # Inside the probe round's single flight: one process notifies per round.
        status.listeners.append(Notifier(alertmanager.post_alerts, config.services,
                                         repeat=notify.notify_interval))
    return Deps(config=config, cache=cache, status=status, prometheus=prometheus,
                alertmanager=alertmanager, loki=loki)


def history_spans(config: Config) -> dict:
    """The probe history's gap (probes further apart were not one stretch of watching) and
    how long it keeps raw probes (at least two heartbeat bars' worth), from the probe interval."""
    interval = config.refresh.status
    return {"gap": max(GAP_SECONDS, 3 * interval),
            "keep_recent": max(KEEP_RECENT_SECONDS, 2 * HEARTBEAT * interval)}


def _alertmanager(config: Config, cache: Cache) -> Alertmanager | None:
    return Alertmanager(config.alertmanager, cache) if config.alertmanager.enabled else None


def register_all(app, deps: Deps) -> None:
    """Wire every tab's callbacks to ``app``."""
    range_picker.register_tab_sync(app)
    status.register(app, deps)
    metrics.register(app, deps)
    logs.register(app, deps)
    actions.register(app, deps)
    audit.register(app)

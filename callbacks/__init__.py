"""Thin callbacks, one module per tab: inputs → datasource calls → layout helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config import Config
from datasources.cache import Cache
from datasources.history import ProbeHistory
from datasources.status import StatusSource


@dataclass
class Deps:
    """What the callbacks may call: built once per app, passed in (tests pass their own)."""

    config: Config
    cache: Cache
    status: StatusSource


def build_deps(config: Config, cache: Cache | None = None) -> Deps:
    """The production datasources for ``config``."""
    cache_dir = Path(config.cache.dir)
    cache = cache or Cache(cache_dir / "cache", backoff_max=config.cache.backoff_max)
    history = ProbeHistory(cache_dir / "probe-history.sqlite3")
    status = StatusSource(config.services, cache, history, ttl=config.cache.status_ttl)
    return Deps(config=config, cache=cache, status=status)


def register_all(app, deps: Deps) -> None:
    """Wire every tab's callbacks to ``app``."""
    from callbacks import status

    status.register(app, deps)

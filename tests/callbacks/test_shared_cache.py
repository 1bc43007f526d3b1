"""cache.url: the app's datasources share Redis, and the Status tab says when it is down."""

from __future__ import annotations

import json

import plotly

from callbacks import build_deps
from callbacks.status import outputs
from datasources.cache import Result
from datasources.history import ProbeHistory
from datasources.redis_history import RedisHistory
from datasources.stores import DiskStore, RedisStore


def rendered(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def cache_table(tmp_path, url: str, extra: str = "") -> str:
    return f'[cache]\ndir = "{tmp_path / "cache"}"\nurl = "{url}"\n{extra}'


def test_with_cache_url_the_cache_and_history_are_in_redis(write_config, redis_server,
                                                          tmp_path):
    url = f"redis://{redis_server.host}:{redis_server.port}/0"
    deps = build_deps(write_config(cache_table(tmp_path, url, 'prefix = "app-test:"\n')))
    assert isinstance(deps.cache.store, RedisStore) and deps.cache.store.prefix == "app-test:"
    assert isinstance(deps.status.history, RedisHistory)
    assert deps.prometheus.cache is deps.cache


def test_without_it_they_stay_on_disk(write_config):
    deps = build_deps(write_config())
    assert isinstance(deps.cache.store, DiskStore)
    assert isinstance(deps.status.history, ProbeHistory)


def test_status_tab_shows_the_shared_cache_is_down_without_its_password(write_config,
                                                                        closed_port, tmp_path):
    url = f"redis://:hunter2-pw@127.0.0.1:{closed_port}/0"
    deps = build_deps(write_config(cache_table(tmp_path, url)))
    deps.cache.get("k", lambda: 1, ttl=1, upstream="U")  # finds Redis down
    notices = rendered(outputs(deps, Result(value=[]))[4])  # [5]: the incidents
    assert f"shared cache redis://:***@127.0.0.1:{closed_port}/0 unreachable" in notices
    assert "hunter2" not in notices

"""The datasource's histogram and exemplar calls against a real Prometheus 2.42 scraping the
demo API (``tests/histogram_stack.py``), through the cache like a panel."""

from __future__ import annotations

import json
import time

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from stack.poll import until


def test_exemplars_and_native_buckets_come_through_the_datasource(histogram_prometheus,
                                                                   tmp_path):
    prom = Prometheus(Upstream("Prometheus", histogram_prometheus.url, 10.0, 1.0),
                      Cache(tmp_path / "cache"))
    end = time.time()
    found = prom.query_exemplars('http_request_duration_seconds_bucket{job="api"}',
                                 end - 600, end)
    assert found.error is None and len(found.value)
    logged = {json.loads(x).get("request_id")
              for x in histogram_prometheus.api_log.read_text().splitlines()}
    assert set(found.value["request_id"]) <= logged
    again = prom.query_exemplars('http_request_duration_seconds_bucket{job="api"}',
                                 end - 600, end)
    assert again.value is found.value or again.value.equals(found.value)  # the cache answered

    def buckets():  # the native series may be seconds old: wait for a second sample
        now = time.time()
        found = prom.query_buckets("sum(increase(http_request_duration_seconds[1m]))",
                                   now - 60, now, 15, force=True)
        return found if found.value is not None and len(found.value) else None

    buckets = until(buckets, 30, every=0.5, message="native buckets")
    assert (buckets.value["series"] == "sum(increase(http_request_duration_seconds[1m]))").all()
    now = time.time()
    lines = prom.query_range("sum(increase(http_request_duration_seconds[1m]))", now - 60, now,
                             15)
    assert lines.value.empty and "native-histogram" in lines.value.attrs["warnings"][0]

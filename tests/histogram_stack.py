"""A Prometheus holding live exemplars and native histograms, for the heatmap browser tests.

The demo API runs in-process on the session's real Redis (its latencies slept at a twentieth
of the model's, so requests are quick), with some traffic; Prometheus 2.42 scrapes its
OpenMetrics /metrics (classic buckets with exemplars) and its protobuf /metrics/native
(a native histogram) every second, with ``services.HISTOGRAM_FEATURES``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from stack import demo_api, services
from stack.poll import until


@dataclass
class HistogramStack:
    """The Prometheus URL, and the API's JSON log (whose request ids exemplars carry)."""

    url: str
    api_log: Path
    traffic: demo_api.Traffic


def _has(url: str, path: str, query: str) -> bool:
    try:
        body = requests.post(url + path, data={"query": query}, timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return bool(body.get("data") if path.endswith("exemplars") else body["data"]["result"])


@pytest.fixture(scope="session")
def histogram_prometheus(tmp_path_factory, redis_server):
    """Prometheus scraping the demo API, once it holds exemplars and a native histogram."""
    state = tmp_path_factory.mktemp("histogram-prometheus")
    api = demo_api.DemoAPI(demo_api.Redis(redis_server.host, redis_server.port),
                           demo_api.JsonLog(state / "api.log"), demo_api.Metrics(),
                           rng=random.Random(11), sleep=lambda s: threading.Event().wait(s / 20))
    server = demo_api.serve(api, services.LOCALHOST, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"{services.LOCALHOST}:{server.server_address[1]}"
    traffic = demo_api.Traffic(f"http://{target}", rng=random.Random(5))
    config = services.scrape_config({"api": [target], "api-native": [target]},
                                    paths={"api-native": demo_api.NATIVE_PATH})
    stop = threading.Event()

    def calls():  # a few requests a second: rates stay above zero while the tests run
        while not stop.wait(0.25):
            traffic.call(*traffic.pick())

    caller = threading.Thread(target=calls, daemon=True)
    try:
        with services.start_prometheus(state / "prom", config_yaml=config,
                                       extra_args=[services.HISTOGRAM_FEATURES]) as prom:
            services.wait_scraped(prom.url, ["api", "api-native"])
            for _ in range(40):
                traffic.call(*traffic.pick())
            caller.start()
            until(lambda: _has(prom.url, "/api/v1/query_exemplars",
                               "http_request_duration_seconds_bucket")
                  and _has(prom.url, "/api/v1/query", "http_request_duration_seconds"),
                  30, every=0.2, message="exemplars and a native histogram scraped")
            yield HistogramStack(prom.url, state / "api.log", traffic)
    finally:
        stop.set()
        if caller.is_alive():
            caller.join(5)
        server.shutdown()
        server.server_close()
        api.log.close()

"""GPU host panels: shown only where their exporter's metrics exist, and drawn from a real
Prometheus scraping a tiny exporter that serves DCGM-style text."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config import Upstream
from datasources.cache import Cache
from datasources.prometheus import Prometheus
from query import panels
from query.timerange import plan
from stack import services
from stack.poll import until

DCGM = {"gpu-util", "gpu-memory", "gpu-temp"}
SMI = {"gpu-util-smi", "gpu-memory-smi", "gpu-temp-smi"}
#: what dcgm-exporter serves for two GPUs (its names and labels; values made up)
DCGM_TEXT = """\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaaa",modelName="NVIDIA A100"} 42
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbbb",modelName="NVIDIA A100"} 7
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa",modelName="NVIDIA A100"} 30000
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-bbbb",modelName="NVIDIA A100"} 1000
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{gpu="0",UUID="GPU-aaaa",modelName="NVIDIA A100"} 10000
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-bbbb",modelName="NVIDIA A100"} 39000
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-aaaa",modelName="NVIDIA A100"} 61
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-bbbb",modelName="NVIDIA A100"} 35
"""


@pytest.mark.parametrize(("names", "shown"), [
    ({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_TEMP"}, DCGM),
    ({"nvidia_smi_utilization_gpu_ratio", "nvidia_smi_memory_used_bytes",
      "nvidia_smi_memory_total_bytes", "nvidia_smi_temperature_gpu"}, SMI),
    ({"DCGM_FI_DEV_GPU_TEMP"}, {"gpu-temp"}),
    ({"node_cpu_seconds_total"}, set()),
])
def test_each_gpu_panel_shows_only_where_its_exporters_metrics_exist(names, shown):
    found = {p.slug for p in panels.available(panels.SEEDS, names) if p.group == "GPUs"}
    assert found == shown


class _Exporter:
    """Serves ``text`` on /metrics in Prometheus' text format, as an exporter does."""

    def __init__(self, text: str):
        body = text.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def gpu_prometheus(tmp_path_factory):
    exporter = _Exporter(DCGM_TEXT)
    config = services.scrape_config({"dcgm": [exporter.address]}, interval="1s")
    try:
        with services.start_prometheus(tmp_path_factory.mktemp("gpu-prom"),
                                       config_yaml=config) as proc:
            services.wait_scraped(proc.url, ["dcgm"])
            yield proc
    finally:
        exporter.stop()


def test_dcgm_panels_show_on_a_prometheus_scraping_a_dcgm_exporter(gpu_prometheus, tmp_path):
    prom = Prometheus(Upstream("Prometheus", gpu_prometheus.url, timeout=10, cache_ttl=0.01),
                      Cache(tmp_path / "cache"))
    shown = panels.available(panels.SEEDS, set(prom.label_values("__name__").value))
    assert {p.slug for p in shown if p.group == "GPUs"} == DCGM
    expected = {"gpu-util": {"0": 0.42, "1": 0.07}, "gpu-memory": {"0": 0.75, "1": 0.025},
                "gpu-temp": {"0": 61, "1": 35}}
    for panel in (p for p in shown if p.group == "GPUs"):
        [frame] = until(lambda p=panel: drawn(prom, p), message=f"{panel.slug}: no data")
        latest = frame.sort_values("timestamp").groupby("gpu", observed=True)["value"].last()
        assert latest.to_dict() == pytest.approx(expected[panel.slug]), panel.slug


def drawn(prom, panel):
    """The panel's frame over the last minute, once a scrape falls inside its aligned window
    (a fresh Prometheus has only the samples of the last few seconds)."""
    now = time.time()
    window = plan(now - 60, now, max_data_points=30)
    query = panels.expand(panel.query, step=window.step, scrape_interval=1, job="dcgm")
    frame = prom.query_range(query, window.start, window.end, window.step).value
    return [frame] if frame is not None and not frame.empty else None

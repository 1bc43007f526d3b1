"""The counting proxy forwards requests and connections unchanged and counts them."""

from __future__ import annotations

import socket

import requests

from stack.counting_proxy import Route, read_counts, start_counting_proxy
from stack.poll import until
from stack.services import free_port
from tests.counting_server import CountingServer
from tests.recording_upstream import RecordingUpstream


def test_counts_http_requests_by_path_and_tcp_connections(tmp_path):
    upstream = RecordingUpstream({"/api/v1/query_range": b'{"status":"success"}'})
    probed = CountingServer(body=b"Ready")
    http = Route("prometheus", free_port(), upstream.url)
    tcp = Route("probe-x", free_port(), f"127.0.0.1:{probed.port}", kind="tcp")
    try:
        with start_counting_proxy(tmp_path, [http, tcp]) as proxy, requests.Session() as s:
            for _ in range(2):
                answer = s.post(http.url + "/api/v1/query_range", data={"query": "up"})
                assert (answer.status_code, answer.content) == (200, b'{"status":"success"}')
            assert s.get(http.url + "/api/v1/labels").status_code == 404
            for _ in range(3):
                assert requests.get(tcp.url + "/-/ready", timeout=5).content == b"Ready"
            with socket.create_connection(("127.0.0.1", tcp.port)):
                pass  # a TCP probe: connect, close
            # The proxy counts a connection on its own thread, which may not have run yet.
            until(lambda: read_counts(proxy)["tcp"].get("probe-x", 0) >= 4, 5)
            counts = read_counts(proxy)
        assert counts["http"] == {"prometheus": {"/api/v1/query_range": 2, "/api/v1/labels": 1}}
        assert counts["tcp"] == {"probe-x": 4}
        assert [r["params"] for r in upstream.to("/api/v1/query_range")] == [{"query": "up"}] * 2
        assert probed.count == 3
    finally:
        upstream.stop()
        probed.stop()

"""Session-wide real servers for the integration tests, built on ``stack.services``.

Fixtures (each server is a ``stack.services.Proc``; stopped at the end of the session):
    redis_server         redis-server; ``.url`` is None, use ``.host``/``.port``
    nginx_server         nginx serving a "Welcome to nginx" page at ``/``
    node_exporter        prometheus-node-exporter
    prometheus_server    Prometheus scraping itself (job "prometheus") and node_exporter
                         (job "node") every 1 s; both already scraped once when you get it
    alertmanager_server  Alertmanager with a null receiver, clustering off
    victoria_metrics     VictoriaMetrics; imports are visible at once (no latency offset,
                         no cache) but new series still take ~1 s to be indexed
    https_servers        nginx over TLS, one per certificate (``tests.tls_certs``):
                         ``.ca_file`` (the test CA's PEM) and ``.procs`` by name: "valid"
                         (CA-signed, 30 days left), "expired" (CA-signed, 2 days ago),
                         "self_signed" (30 days left)
Per test:
    closed_port          int: a 127.0.0.1 port with nothing listening (connects are refused)
    black_hole           (host, port): connects succeed, nothing is ever read or answered

Use with ``pytest_plugins = ["tests.servers"]`` in the root conftest.py.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from stack import services

SCRAPE_INTERVAL = "1s"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server on 127.0.0.1."""
    with services.start_redis(tmp_path_factory.mktemp("redis")) as proc:
        yield proc


@pytest.fixture(scope="session")
def nginx_server(tmp_path_factory):
    """An nginx serving its welcome page."""
    with services.start_nginx(tmp_path_factory.mktemp("nginx")) as proc:
        yield proc


@pytest.fixture(scope="session")
def node_exporter(tmp_path_factory):
    """A prometheus-node-exporter."""
    with services.start_node_exporter(tmp_path_factory.mktemp("node_exporter")) as proc:
        yield proc


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory, node_exporter):
    """A Prometheus scraping itself and ``node_exporter`` every second."""
    node = f"{node_exporter.host}:{node_exporter.port}"
    config = services.scrape_config(
        {"prometheus": [services.SELF_ADDRESS], "node": [node]}, interval=SCRAPE_INTERVAL
    )
    state = tmp_path_factory.mktemp("prometheus")
    with services.start_prometheus(state, config_yaml=config) as proc:
        services.wait_scraped(proc.url, ["prometheus", "node"])
        yield proc


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory):
    """An Alertmanager with a null receiver."""
    with services.start_alertmanager(tmp_path_factory.mktemp("alertmanager")) as proc:
        yield proc


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory):
    """A VictoriaMetrics whose imported samples are queryable without the default 30 s delay."""
    args = ["-search.latencyOffset=0s", "-search.disableCache"]
    with services.start_victoria_metrics(tmp_path_factory.mktemp("vm"), extra_args=args) as proc:
        yield proc


@pytest.fixture(scope="session")
def https_servers(tmp_path_factory):
    """One nginx over https per test certificate, all valid for 127.0.0.1."""
    from contextlib import ExitStack

    from tests import tls_certs

    certs = tmp_path_factory.mktemp("certs")
    ca_file, ca_cert, ca_key = tls_certs.make_ca(certs)
    ca = (ca_cert, ca_key)
    leaves = {"valid": tls_certs.make_leaf(certs, "valid", days_left=30, ca=ca),
              "expired": tls_certs.make_leaf(certs, "expired", days_left=-2, ca=ca),
              "self_signed": tls_certs.make_leaf(certs, "self_signed", days_left=30)}
    with ExitStack() as stack:
        procs = {name: stack.enter_context(services.start_nginx(
                     tmp_path_factory.mktemp(f"nginx-{name}"), tls=pem))
                 for name, pem in leaves.items()}
        yield SimpleNamespace(ca_file=ca_file, procs=procs)


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((services.LOCALHOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def black_hole():
    """(host, port) of a socket that accepts TCP handshakes but never reads nor answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((services.LOCALHOST, 0))
        # The kernel completes handshakes up to the backlog without accept(); a large one keeps
        # a test's retries from filling it, which would turn read hangs into connect hangs.
        sock.listen(socket.SOMAXCONN)
        yield sock.getsockname()
    finally:
        sock.close()

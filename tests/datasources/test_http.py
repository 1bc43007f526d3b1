"""Credentials go to the upstream and nowhere else; statuses map into the error family."""

from __future__ import annotations

import base64
import time
from email.utils import formatdate

import pytest
import requests

from app import create_app
from config import Upstream
from datasources.errors import BadResponse, QueryError, Unreachable
from datasources.http import make_session, request, retry_after
from tests.counting_server import CountingServer
from tests.fault_server import FaultServer

SECRETS = ("tok-3f9a1c", "pw-77d2e0", "hdr-5be41f")


@pytest.fixture
def server():
    s = CountingServer()
    yield s
    s.stop()


def upstream(url, **kw):
    return Upstream("Loki", url, **{"timeout": 2.0, "cache_ttl": 1.0, **kw})


def test_bearer_token_tenant_and_extra_headers_reach_the_upstream(server):
    up = upstream(server.url, bearer_token="tok-3f9a1c", tenant="team-a",
                  headers={"X-Extra": "hdr-5be41f"})
    request(make_session(up), up, "GET", "/")
    sent = server.headers[-1]
    assert sent["Authorization"] == "Bearer tok-3f9a1c"
    assert (sent["X-Scope-OrgID"], sent["X-Extra"]) == ("team-a", "hdr-5be41f")


def test_basic_auth_reaches_the_upstream(server):
    up = upstream(server.url, username="ops", password="pw-77d2e0")
    request(make_session(up), up, "GET", "/")
    assert server.headers[-1]["Authorization"] == "Basic " + base64.b64encode(
        b"ops:pw-77d2e0").decode()


@pytest.mark.parametrize(("status", "kind"), [(400, QueryError), (422, QueryError),
                                             (401, BadResponse), (404, BadResponse),
                                             (429, Unreachable), (502, Unreachable),
                                             (503, Unreachable)])
def test_status_maps_into_the_family_with_the_upstream_text(server, status, kind):
    server.status, server.body = status, b"the upstream's own words"
    up = upstream(server.url)
    with pytest.raises(kind) as err:
        request(make_session(up), up, "GET", "/")
    assert "the upstream's own words" in str(err.value) and err.value.status == status


def test_credentials_in_a_url_never_reach_a_message(server):
    server.status, server.body = 401, b"unauthorized"
    up = upstream(server.url.replace("http://", "http://ops:pw-77d2e0@"))
    with pytest.raises(BadResponse) as err:
        request(make_session(up), up, "GET", "/x")
    assert "pw-77d2e0" not in err.value.describe()
    assert f"({server.url}/x)" in str(err.value)


def test_no_secret_reaches_the_page(write_config):
    config = write_config("""
[prometheus]
url = "http://127.0.0.1:9"
bearer_token = "tok-3f9a1c"
[loki]
url = "http://127.0.0.1:9"
password = "pw-77d2e0"
username = "ops"
headers = { "X-Extra" = "hdr-5be41f" }
""")
    client = create_app(config).server.test_client()
    served = "".join(client.get(path).get_data(as_text=True)
                     for path in ("/", "/_dash-layout", "/_dash-dependencies", "/_dash-config"))
    assert served and not [s for s in SECRETS if s in served]


@pytest.mark.parametrize(("value", "expected"), [
    ("7", 7.0), (" 120 ", 120.0), (formatdate(1_000_020, usegmt=True), 20.0),
    (formatdate(999_000, usegmt=True), 0.0),  # a date already past: no wait
    ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP date
    ("soon", None), ("-3", None), ("", None), (None, None)])
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    assert retry_after(value, now=lambda: 1_000_000.0) == expected


def test_a_session_passed_in_keeps_the_total_deadline():
    # A plain session (tests and callers may pass one) gets the deadline adapter on first use.
    server = FaultServer()
    try:
        up = upstream(server.url + "/drip-headers", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(Unreachable, match=r"^timed out after 0\.5 s$"):
            request(requests.Session(), up, "GET", "/")
        assert time.monotonic() - started < 1.0
    finally:
        server.stop()

"""`python app.py` compresses what it sends and lets browsers keep fingerprinted files."""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from pathlib import Path

import dash
import pytest
import requests
from flask import request

from app import create_app
from compression import IMMUTABLE, fixed_file_key
from config import load_config
from datasources.export_job import ROUTE, exports_dir
from stack import services
from stack.services import free_port
from tests import dash_calls
from tests.loki_fixtures import DEMO_START

REPO = Path(__file__).resolve().parents[1]
RENDERER = Path(dash.__file__).parent / "dash-renderer" / "build" / "dash_renderer.min.js"
GZIP_ONLY = {"Accept-Encoding": "gzip"}


def serve(tmp_path, loki_url: str, extra: str = "") -> tuple[services.Proc, Path]:
    """``python app.py`` on a free port with its config in tmp_path; ready once /health answers."""
    path = tmp_path / "stackscope.toml"
    path.write_text(f'[loki]\nurl = "{loki_url}"\n[cache]\ndir = "{tmp_path / "cache"}"\n'
                    f"{extra}")
    port = free_port()
    proc = services.start_server(
        "app", [sys.executable, "app.py", "--port", str(port), "--config", str(path)],
        tmp_path / "app", port=port, cwd=REPO, env=dict(os.environ),
        url=f"http://127.0.0.1:{port}", timeout=60,
        ready=services.http_ready("/health", timeout=15))
    return proc, path


def page_scripts(session: requests.Session, base: str) -> list[str]:
    page = session.get(base + "/", timeout=10)
    return re.findall(r'<script src="([^"]+)"', page.text)


def raw_get(session: requests.Session, url: str, headers=GZIP_ONLY) -> requests.Response:
    """A GET whose body is kept as sent (``raw_body``), not decoded by requests."""
    resp = session.get(url, headers=headers, stream=True, timeout=30)
    resp.raw_body = resp.raw.read(decode_content=False)
    return resp


def logs_answer(session: requests.Session, base: str, config_path: Path, headers=GZIP_ONLY):
    """The Logs table's callback answer for the demo entries, posted as the browser does."""
    app = create_app(load_config(str(config_path), env={}))
    body = dash_calls.body(app, dash_calls.find(app, "logs-grid.rowData"), {
        "logs-request.data": {"at": 1.0, "force": False, "live": False,
                              "direction": "forward", "limit": 1000, "query": '{app=~".+"}',
                              "start_ns": DEMO_START, "end_ns": DEMO_START + 120 * 10**9}})
    resp = session.post(base + dash_calls.ENDPOINT, data=json.dumps(body), stream=True,
                        headers={"Content-Type": "application/json", **headers}, timeout=30)
    resp.raw_body = resp.raw.read(decode_content=False)
    return resp


@pytest.fixture
def served(tmp_path, loki_double):
    proc, path = serve(tmp_path, loki_double.url)
    with proc:
        yield proc.url, path


def test_component_suites_are_gzipped_and_kept_a_year(served):
    base, _ = served
    session = requests.Session()
    renderer = next(s for s in page_scripts(session, base) if "dash_renderer" in s)
    resp = raw_get(session, base + renderer)
    assert resp.status_code == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert "Accept-Encoding" in resp.headers["Vary"]
    on_disk = (Path(dash.__file__).parent / "dash-renderer/build/dash_renderer.min.js").read_bytes()
    assert gzip.decompress(resp.raw_body) == on_disk
    assert len(resp.raw_body) < len(on_disk) / 3
    again = raw_get(session, base + renderer)  # kept compressed: the same bytes again
    assert again.raw_body == resp.raw_body


def test_a_client_that_accepts_no_encoding_gets_the_plain_file(served):
    base, _ = served
    session = requests.Session()
    renderer = next(s for s in page_scripts(session, base) if "dash_renderer" in s)
    resp = raw_get(session, base + renderer, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in resp.headers
    assert resp.raw_body == RENDERER.read_bytes()


def test_assets_with_their_stamp_are_kept_a_year_and_without_it_revalidated(served):
    base, _ = served
    session = requests.Session()
    page = session.get(base + "/", timeout=10).text
    stamped = re.search(r'href="(/assets/stackscope\.css\?m=[^"]+)"', page).group(1)
    assert session.get(base + stamped, timeout=10).headers["Cache-Control"] == IMMUTABLE
    plain = session.get(base + "/assets/stackscope.css", timeout=10)
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("Cache-Control", "")
    bootstrap = re.search(r'href="(/vendor/bootstrap\.min\.css\?v=[^"]+)"', page).group(1)
    css = raw_get(session, base + bootstrap)
    assert css.headers["Cache-Control"] == IMMUTABLE
    assert css.headers["Content-Encoding"] in ("gzip", "deflate")
    favicon = re.search(r'href="(/_favicon\.ico\?v=[^"]+)"', page).group(1)
    assert session.get(base + favicon, timeout=10).headers["Cache-Control"] == IMMUTABLE


def test_a_callback_answer_is_gzipped_and_a_small_answer_is_not(served):
    base, path = served
    session = requests.Session()
    session.get(base + "/", timeout=10)  # the page load sets the session cookie
    resp = logs_answer(session, base, path)
    assert resp.status_code == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    rows = json.loads(gzip.decompress(resp.raw_body))["response"]["logs-grid"]["rowData"]
    assert len(rows) == 122
    health = raw_get(session, base + "/health")
    assert "Content-Encoding" not in health.headers and health.raw_body == b"OK"


def test_an_export_download_is_sent_as_it_is_on_disk(served):
    """Not gathered whole to be compressed: the file's own length and bytes, streamed."""
    base, path = served
    config = load_config(str(path), env={})
    line = b'2026-11-22T00:00:00.000000001Z,api,"{""level"":""info""}"\r\n'
    body = b"timestamp,app,line\r\n" + line * 100_000  # 6 MB, compresses 100-fold
    (exports_dir(config.cache.dir) / "logs-a-b.csv").write_bytes(body)
    resp = requests.get(base + ROUTE + "logs-a-b.csv", headers=GZIP_ONLY, stream=True,
                        timeout=30)
    assert resp.status_code == 200
    assert "Content-Encoding" not in resp.headers
    assert resp.headers["Content-Length"] == str(len(body))
    assert b"".join(resp.raw.stream(64 * 1024, decode_content=False)) == body


def test_compress_false_sends_plain_answers_still_kept_a_year(tmp_path, loki_double):
    proc, path = serve(tmp_path, loki_double.url, "[server]\ncompress = false\n")
    with proc:
        session = requests.Session()
        renderer = next(s for s in page_scripts(session, proc.url) if "dash_renderer" in s)
        resp = raw_get(session, proc.url + renderer)
        assert "Content-Encoding" not in resp.headers
        assert resp.headers["Cache-Control"] == IMMUTABLE
        assert "Content-Encoding" not in logs_answer(session, proc.url, path).headers


def test_a_suite_file_is_kept_compressed_once_whatever_its_query_string(write_config):
    server = create_app(write_config()).server
    path = "/_dash-component-suites/dash/dcc/dash_core_components.v4_4_1m1.js"
    keys = set()
    for junk in ("", "?v=1", "?x=1&y=2", "?" + "z" * 500):
        with server.test_request_context(path + junk):
            keys.add(fixed_file_key(request))
    assert keys == {path}
    with server.test_request_context("/_dash-update-component", method="POST"):
        assert fixed_file_key(request) != "/_dash-update-component"

"""Large exports are streamed from a route instead of one base64 JSON reply."""

from __future__ import annotations

from app import create_app
from datasources.export_job import exports_dir


def test_export_route_streams_the_file_as_an_attachment(write_config):
    config = write_config()
    app = create_app(config)
    path = exports_dir(config.cache.dir) / "logs-a-b.csv"
    path.write_text("timestamp,line\n2026-11-22T00:00:00.000000001Z,hello\n")
    resp = app.server.test_client().get("/exports/logs-a-b.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.get_data(as_text=True).endswith("hello\n")
    assert app.server.test_client().get("/exports/../config.toml").status_code == 404

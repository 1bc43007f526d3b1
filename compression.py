"""What the dashboard sends, made small: compressed answers and long-cached fingerprinted files.

Dash's own ``compress=True`` installs flask-compress before any of its settings can be given
(and sets ``COMPRESS_ALGORITHM`` after the extension has read it), so the app installs the
extension itself, configured here.
"""

from __future__ import annotations

from dash.fingerprint import check_fingerprint
from flask import Flask, Request, request

#: Dash's URL prefix for component libraries' JS and CSS (fingerprinted: ``x.v1_2m123.js``).
SUITES = "/_dash-component-suites/"
#: URLs that carry a version stamp: Dash adds ``?m=<mtime>`` to /assets files and
#: ``?v=<Dash version>`` to its favicon, the app ``?v=<package version>`` to its Bootstrap.
STAMPED = {"/assets/": "m", "/_favicon.ico": "v", "/vendor/": "v"}
#: ``public``: a shared proxy may keep it too; ``immutable``: no revalidation on reload.
IMMUTABLE = "public, max-age=31536000, immutable"
#: An answer under 1 KiB fits one packet either way: compressing it only costs time.
MIN_SIZE = 1024
#: What flask-compress's cache is told for an answer it must not keep.
_UNCACHED = "\0"


def install(server: Flask, *, compress: bool = True) -> None:
    """Cache headers always; compression (zstd, brotli, gzip) when ``compress``."""
    server.after_request(_cache_headers)
    if compress:
        _install_compression(server)


def _install_compression(server: Flask) -> None:
    from flask_compress import Compress

    server.config.update(
        COMPRESS_ALGORITHM=["zstd", "br", "gzip", "deflate"],
        COMPRESS_MIN_SIZE=MIN_SIZE,
        # A streamed answer (a file sent from disk, an export) is compressed chunk by chunk
        # as it goes, never gathered whole; text/csv is not in the list, so an export
        # download keeps its Content-Length and is sent as it is on disk.
        COMPRESS_STREAMS=True,
        # The component suites are the same bytes for every browser: compress each once
        # (plotly.min.js costs ~150 ms of gzip), not on every cold page load.
        COMPRESS_CACHE_BACKEND=FixedFileBodies,
        COMPRESS_CACHE_KEY=fixed_file_key,
    )
    Compress(server)


def fixed_file_key(req: Request) -> str:
    """The path of a component-suite file (same bytes for everyone), else "do not keep".

    The path alone, not its query string: Dash serves the same file whatever follows the
    ``?``, and a key a client can vary at will would let the store grow without bound.
    """
    if req.method == "GET" and req.path.startswith(SUITES) and "Range" not in req.headers:
        return req.path
    return _UNCACHED


class FixedFileBodies:
    """flask-compress's cache, keeping only the component suites' compressed bodies.

    flask-compress asks its cache about every answer it compresses once a cache is set; a
    callback's answer is keyed "do not keep" and never stored. The suites are a fixed set of
    files, so the store is bounded (about 3 MB per encoding).
    """

    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._bodies.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith(_UNCACHED):
            self._bodies[key] = value


def _cache_headers(response):
    """Fingerprinted URLs never change content: the browser keeps them a year, unasked."""
    if response.status_code == 200 and is_fingerprinted(request):
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def is_fingerprinted(req: Request) -> bool:
    """A component-suite URL Dash fingerprinted, or a file with its stamp (``?m=``, ``?v=``)."""
    if req.path.startswith(SUITES):
        return check_fingerprint(req.path)[1]
    return any(req.path.startswith(prefix) and stamp in req.args
               for prefix, stamp in STAMPED.items())

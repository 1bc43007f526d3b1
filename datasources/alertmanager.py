"""Alertmanager's ``/api/v2/alerts``: the alerts it holds, as the Prometheus alerts frame."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pandas as pd
import requests

from config import Upstream
from datasources.cache import Cache, Result, cache_key
from datasources.errors import BadResponse
from datasources.http import make_session, request, scrubbing
from datasources.prometheus import ALERT_COLUMNS, alert_frame, alert_row

COLUMNS = (*ALERT_COLUMNS, "source")
#: Alertmanager only holds firing alerts; silenced or inhibited ones are "suppressed".
_STATES = {"active": "firing", "unprocessed": "firing", "suppressed": "suppressed"}


def alerts_from_response(body: bytes | str | list, *, upstream: str = "Alertmanager"
                         ) -> pd.DataFrame:
    """``/api/v2/alerts`` body → alertname, state, severity, active_at, summary, labels,
    value (always NaN here) and source (the generator URL: where the alert came from)."""
    alerts = _loads(body, upstream)
    try:
        rows = [(*alert_row(a.get("labels") or {}, a.get("annotations") or {},
                            _STATES.get((a.get("status") or {}).get("state"), "unknown"),
                            a.get("startsAt")),
                 a.get("generatorURL") or "") for a in alerts]
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadResponse(upstream, f"malformed alerts: {exc}") from None
    return alert_frame(rows, COLUMNS)


def _loads(body: bytes | str | list, upstream: str) -> list[Mapping]:
    if isinstance(body, list):
        return body
    try:
        alerts = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadResponse(upstream, f"not JSON: {str(body[:120])!r}") from None
    if not isinstance(alerts, list):
        raise BadResponse(upstream, "alerts are not a JSON list")
    return alerts


def read_error(resp: requests.Response) -> tuple[str | None, str]:
    """Alertmanager's v2 errors are a JSON string or plain text: keep its words."""
    try:
        text = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        text = resp.text
    return None, str(text).strip() or f"HTTP {resp.status_code}"


class Alertmanager:
    """Reads alerts from Alertmanager through the cache."""

    def __init__(self, upstream: Upstream, cache: Cache, session: requests.Session | None = None):
        self.upstream = upstream
        self.cache = cache
        self.session = session if session is not None else make_session(upstream)

    def alerts(self, force: bool = False) -> Result[pd.DataFrame]:
        """Every alert Alertmanager holds (firing and suppressed), firing first."""
        key = cache_key("alertmanager", self.upstream.url, "/api/v2/alerts")
        return self.cache.get(key, self._fetch, ttl=self.upstream.cache_ttl,
                              upstream=self.upstream.name, force=force,
                              wait=self.upstream.timeout)

    def _fetch(self) -> pd.DataFrame:
        resp = request(self.session, self.upstream, "GET", "/api/v2/alerts",
                       read_error=read_error)
        with scrubbing(self.upstream):
            return alerts_from_response(resp.content, upstream=self.upstream.name)

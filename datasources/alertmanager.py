"""Alertmanager's ``/api/v2/alerts``: the alerts it holds, as the Prometheus alerts frame."""

from __future__ import annotations

import orjson
import pandas as pd
import requests

from config import Upstream
from datasources.cache import Cache, Result, cache_key
from datasources.http import make_session, request, scrubbing
from datasources.prometheus import ALERT_COLUMNS, alert_frame, alert_row
from datasources.strict import loads, need_list, need_object, optional_str, required_str

COLUMNS = (*ALERT_COLUMNS, "source")
#: Alertmanager only holds firing alerts; silenced or inhibited ones are "suppressed".
_STATES = {"active": "firing", "unprocessed": "firing", "suppressed": "suppressed"}


def alerts_from_response(body: bytes | str | list, *, upstream: str = "Alertmanager"
                         ) -> pd.DataFrame:
    """``/api/v2/alerts`` body → alertname, state, severity, active_at, summary, labels,
    value (always NaN here) and source (the generator URL: where the alert came from)."""
    alerts = body if isinstance(body, list) else loads(body, upstream)
    need_list(alerts, "the alerts answer", upstream)
    rows = [_row(alert, f"alert {i}", upstream) for i, alert in enumerate(alerts)]
    return alert_frame(rows, COLUMNS, upstream=upstream)


def _row(alert, where: str, upstream: str) -> tuple:
    need_object(alert, where, upstream)
    status = need_object(alert.get("status"), f"{where}: status", upstream)
    state = required_str(status, "state", f"{where}: status", upstream)
    return (*alert_row(alert.get("labels"), alert.get("annotations"),
                       _STATES.get(state, "unknown"), alert.get("startsAt"),
                       upstream=upstream, where=where),
            optional_str(alert, "generatorURL", where, upstream) or "")


def read_error(resp: requests.Response) -> tuple[str | None, str]:
    """Alertmanager's v2 errors are a JSON string or plain text: keep its words."""
    try:
        text = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        text = None
    if not isinstance(text, str):
        text = resp.text  # plain text, or JSON that is not a string: the body as it came
    return None, text.strip()[:2000] or f"HTTP {resp.status_code}"


class Alertmanager:
    """Reads alerts from Alertmanager through the cache."""

    def __init__(self, upstream: Upstream, cache: Cache, session: requests.Session | None = None):
        self.upstream = upstream
        self.cache = cache
        self.session = session if session is not None else make_session(upstream)

    def alerts(self, force: bool = False, ttl: float | None = None) -> Result[pd.DataFrame]:
        """Every alert Alertmanager holds (firing and suppressed), firing first; ``ttl``
        overrides ``cache_ttl``."""
        key = cache_key("alertmanager", self.upstream.url, "/api/v2/alerts")
        return self.cache.get(key, self._fetch,
                              ttl=self.upstream.cache_ttl if ttl is None else ttl,
                              upstream=self.upstream.name, force=force,
                              wait=self.upstream.timeout)

    def _fetch(self) -> pd.DataFrame:
        resp = request(self.session, self.upstream, "GET", "/api/v2/alerts",
                       read_error=read_error)
        with scrubbing(self.upstream):
            return alerts_from_response(resp.content, upstream=self.upstream.name)

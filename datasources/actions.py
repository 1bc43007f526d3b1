"""Remediation webhooks (``[[actions]]``): build the request, send it, show the answer.

- ``build_request`` is pure: the action's url and body with the service's and the user's
  values filled in (a fixed set of placeholders, see ``config.fill``), its headers.
- ``send`` runs it within the action's total deadline (``Deadline``, as every upstream call),
  without following redirects (its headers carry credentials), reading at most
  ``READ_LIMIT`` bytes of the answer.
- ``result_from_response`` is pure: status and body text, cut to ``SHOWN_CHARS``, with every
  secret of the action (header values, the token in them, the URL's password or token) replaced
  by ``[redacted]`` (``errors.scrub``, the one scrubber): the answer reaches the browser.

Any status is an answer (shown, red when not 2xx); no answer at all (refused, timed out) is an
``Unreachable`` in the upstream's own words, scrubbed too. ``Runner`` owns what the server
limits: one run per action and service at a time, ``MAX_RUNNING`` in all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import requests

from config import Action, Service, fill, is_json_body, json_escape
from datasources.deadline import Deadline
from datasources.errors import DatasourceError, Unreachable, from_transport, scrub
from datasources.http import USER_AGENT, display_url, with_deadlines

#: bytes of an answer read; the rest is left unread
READ_LIMIT = 64 * 1024
#: characters of an answer shown
SHOWN_CHARS = 2000
#: actions running at once in this process; more are refused (each holds a server thread)
MAX_RUNNING = 4
#: query parameters whose values are credentials (``?token=…``): scrubbed like headers
SECRET_PARAMS = ("token", "key", "secret", "password", "auth", "sig", "signature",
                 "access_token", "api_key", "apikey")


@dataclass(frozen=True)
class ActionRequest:
    """One webhook call, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes | None
    timeout: float


@dataclass(frozen=True)
class ActionResult:
    """What the webhook answered, fit to show: status, reason, scrubbed and cut body."""

    action: str
    service: str
    status: int
    reason: str
    body: str
    truncated: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Busy(DatasourceError):
    """The server refused to start a run: the same one is running, or too many are."""

    serve_stale = False
    verb = "not run"


def values(action: Action, service: Service, user_name: str, role: str) -> dict:
    """What the placeholders of ``action`` stand for on ``service``, for ``user_name``."""
    return {"service": service.name, "host": service.host, "port": service.port,
            "group": service.group, "action": action.name, "user": user_name, "role": role}


def build_request(action: Action, service: Service, user_name: str,
                  role: str = "operator") -> ActionRequest:
    """The request ``action`` sends for ``service``, run by ``user_name`` (pure)."""
    filled = values(action, service, user_name, role)
    url = fill(action.url, filled, lambda v: quote(v, safe=""))
    headers = {"User-Agent": USER_AGENT, **action.headers}
    body = None
    if action.body:
        json_body = is_json_body(action.body)
        body = fill(action.body, filled, json_escape if json_body else str).encode()
        if json_body and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    return ActionRequest(action.method, url, headers, body, action.timeout)


def secrets(action: Action) -> tuple[str, ...]:
    """Every configured value of ``action`` no text shown may hold."""
    found = []
    for value in action.headers.values():
        found.append(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.lower() in ("bearer", "basic", "token", "apikey"):
            found.append(credential.strip())
    parts = urlsplit(action.url)
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS]
    return tuple(s for s in found if s)


def shown_url(action: Action, url: str) -> str:
    """``url`` fit for the page and the log: no user-info, secret parameters redacted."""
    parts = urlsplit(display_url(url))
    return scrub(urlunsplit(parts), secrets(action))


def name_of(action: Action) -> str:
    """Who failed, in a message: the action by its name."""
    return f"action {action.name!r}"


def send(action: Action, req: ActionRequest, service: str, *,
         session: requests.Session | None = None,
         clock=time.monotonic) -> ActionResult:
    """Send ``req`` within its deadline; the answer as a result (any status), or Unreachable."""
    own = session is None
    session = with_deadlines(session or requests.Session())
    started = clock()
    try:
        with scrubbed(action), Deadline(req.timeout) as deadline:
            status, reason, raw, headers = _exchange(session, action, req, deadline)
    finally:
        if own:
            session.close()
    return result_from_response(action, service, status, reason, raw, headers,
                                seconds=clock() - started)


def _exchange(session, action: Action, req: ActionRequest, deadline: Deadline):
    try:
        resp = session.request(req.method, req.url, headers=dict(req.headers), data=req.body,
                               timeout=deadline.socket_timeout(req.timeout), stream=True,
                               allow_redirects=False)
        with resp:
            raw = _read(resp)
    except requests.RequestException as exc:
        if deadline.expired:
            raise timed_out(action) from exc
        raise from_transport(name_of(action), exc, req.timeout) from exc
    # A connection cut at the deadline can look like a complete (short) answer.
    if deadline.expired:
        raise timed_out(action)
    return resp.status_code, resp.reason or "", raw, resp.headers


def _read(resp: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in resp.iter_content(8192):
        chunks.append(chunk)
        size += len(chunk)
        if size > READ_LIMIT:
            break
    return b"".join(chunks)


def timed_out(action: Action) -> Unreachable:
    """The error of a webhook that did not answer within its ``timeout``."""
    return Unreachable(name_of(action), f"no answer within {action.timeout:g} s (timeout); "
                       "it may still have run")


@contextmanager
def scrubbed(action: Action):
    """Scrub the action's secrets from a family error raised inside."""
    try:
        yield
    except DatasourceError as exc:
        exc.scrub(secrets(action))
        raise


def result_from_response(action: Action, service: str, status: int, reason: str, raw: bytes,
                         headers: Mapping[str, str], *, seconds: float = 0.0) -> ActionResult:
    """The answer as shown (pure): JSON pretty-printed, cut to SHOWN_CHARS, secrets out."""
    text = raw[:READ_LIMIT].decode(_charset(headers), errors="replace")
    cut = len(raw) > READ_LIMIT
    if "json" in headers.get("Content-Type", "").lower() and not cut:
        # RecursionError: JSON nested deeper than Python's stack is shown as sent.
        with suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    text = scrub(text, secrets(action))
    if len(text) > SHOWN_CHARS:
        text, cut = text[:SHOWN_CHARS], True
    return ActionResult(action.name, service, status, scrub(reason, secrets(action)), text,
                        cut, seconds)


def _charset(headers: Mapping[str, str]) -> str:
    for part in headers.get("Content-Type", "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
            except LookupError:
                break
            return value.strip('"')
    return "utf-8"


class Runner:
    """Runs actions: at most one per (action, service) and ``max_running`` in all at once."""

    def __init__(self, max_running: int = MAX_RUNNING):
        self.max_running = max_running
        self._lock = threading.Lock()
        self._running: set[tuple[str, str]] = set()

    def run(self, action: Action, service: Service, user_name: str, role: str,
            **kwargs) -> ActionResult:
        """Build and send ``action`` for ``service``; Busy when it may not start now."""
        key = (action.name, service.name)
        with self._claim(action, key):
            req = build_request(action, service, user_name, role)
            return send(action, req, service.name, **kwargs)

    @contextmanager
    def _claim(self, action: Action, key: tuple[str, str]):
        with self._lock:
            if key in self._running:
                raise Busy(name_of(action), f"already running on {key[1]}; wait for its answer")
            if len(self._running) >= self.max_running:
                raise Busy(name_of(action), f"{self.max_running} actions are running; try "
                           "again when one has answered")
            self._running.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(key)

    def running(self) -> Iterable[tuple[str, str]]:
        """(action, service) of the runs in progress."""
        with self._lock:
            return sorted(self._running)

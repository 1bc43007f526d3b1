"""Who is asking, at the door: the login middleware of ``[auth]``, CSRF, and the loopback rule.

``install(server, config)`` adds one ``before_request`` hook that, for every route but
``/health`` and the public build assets (see ``PUBLIC_PREFIXES``):

1. signs the user in: ``auth.mode`` "basic" (HTTP Basic against ``[[auth.users]]``), "proxy"
   (a user header, believed only from ``auth.trusted_proxies``) or "none" (the anonymous
   admin, for loopback peers only unless ``server.allow_anonymous``); 401 without a login;
2. refuses a state-changing request (any POST) sent by another site (CSRF): 403;
3. refuses a callback whose output ``access.guard_output`` reserved to a right the user's
   role lacks: 403, before Dash runs it.

Every refused login and every 403 is audited (``access.audit``); a password never is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path

import flask
from werkzeug.exceptions import HTTPException, TooManyRequests, Unauthorized
from werkzeug.security import check_password_hash, generate_password_hash

import access
import telemetry
from config import Config, ConfigError
from query.rate_limit import Limit, RateLimiter, wait_text

log = logging.getLogger("stackscope.login")

#: Public without a login: the Dash renderer's and components' JS/CSS, our own CSS/JS, the
#: Bootstrap CSS and the favicon. They are the same files in every install of this open
#: source project (as Grafana serves /public/build), carry no data, configuration or user
#: detail, and leaving them open lets browsers and proxies cache them and spares a password
#: check for each of the ~30 files of a page load. Everything with data — the page, the
#: layout, the callback graph and every callback, the export files — needs the login.
PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/vendor/", "/_favicon.ico")
HEALTH = "/health"
METRICS = "/metrics"
#: the cookie and header Dash's renderer already uses for CSRF (Dash(csrf_token_name=…))
CSRF_COOKIE, CSRF_HEADER = "_csrf_token", "X-CSRFToken"
REALM = "stackscope"
#: the role of a request to a public path when auth is on: no rights at all
NOBODY = access.User("anonymous", "none")
UPDATE_COMPONENT = "/_dash-update-component"
#: password checks (each ~0.2 s of CPU) one address may cause: a burst of 10, then one every
#: 6 s. A signed-in browser needs one per 5 minutes (``BasicLogin.ttl``); a guesser is slowed
#: and cannot keep the server's threads busy hashing.
ATTEMPTS = Limit(10, 60.0)


# --- the loopback rule ---------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].split("%", 1)[0] for info in found}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_exposure(config: Config, host: str | None = None) -> str | None:
    """ConfigError when anonymous serving would reach beyond loopback; a warning text when
    ``server.allow_anonymous`` lets it; None when all is well."""
    host = config.server.host if host is None else host
    if config.auth.mode != "none" or is_loopback(host):
        return None
    if not config.server.allow_anonymous:
        raise ConfigError(config.origin("server.host"), "server.host", host,
                          'auth.mode = "none" serves everyone as admin, so only on loopback; '
                          'set auth.mode to "basic" or "proxy", or server.allow_anonymous = true')
    return (f'serving {host} with auth.mode = "none" and server.allow_anonymous = true: '
            "everyone who can reach it is admin")


# --- passwords -------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """A ``password_hash`` for ``[[auth.users]]`` (werkzeug's scrypt, salted)."""
    return generate_password_hash(password, method="scrypt")


class BasicLogin:
    """HTTP Basic against ``[[auth.users]]``, with a short memory of good logins.

    A password check costs ~0.2 s of CPU (scrypt) and a page load makes dozens of requests,
    so a login that passed is remembered for ``ttl`` seconds, keyed by an HMAC of the header
    under a per-process key (the password itself is never kept). An unknown user is checked
    against a dummy hash of the same method, so both failures cost the same.
    """

    def __init__(self, users, ttl: float = 300, size: int = 1024, now=time.monotonic,
                 attempts: Limit = ATTEMPTS):
        self.users = {u["name"]: (u["password_hash"], u["role"]) for u in users}
        self.attempts, self._limiter = attempts, RateLimiter(now=now)
        # the first user's method and cost, so an unknown name costs what a known one does
        self._dummy_method = next(iter(self.users.values()))[0].split("$", 1)[0]
        self._dummy = ""
        self._key = secrets.token_bytes(32)
        self._known: OrderedDict[bytes, tuple[float, access.User]] = OrderedDict()
        self._lock = threading.Lock()
        self.ttl, self.size, self.now = ttl, size, now

    def dummy(self) -> str:
        """A hash of a random password, made on the first unknown name."""
        if not self._dummy:
            self._dummy = generate_password_hash(secrets.token_hex(16), self._dummy_method)
        return self._dummy

    def user(self, name: str, password: str, peer: str = "") -> access.User | None:
        """The user these credentials sign in, or None; ``TooManyRequests`` when ``peer``
        has used up its password checks (``attempts``)."""
        key = hmac.digest(self._key, f"{name}\0{password}".encode(), hashlib.sha256)
        with self._lock:
            hit = self._known.get(key)
            if hit and hit[0] > self.now():
                return hit[1]
        if wait := self._limiter.take(peer, self.attempts):
            raise TooManyRequests(f"Too many sign-in attempts from {peer}: try again in "
                                  f"{wait_text(wait)}.", retry_after=int(wait) + 1)
        stored, role = self.users.get(name) or (self.dummy(), "")
        if not check_password_hash(stored, password) or name not in self.users:
            return None
        found = access.User(name, role)
        with self._lock:
            self._known[key] = (self.now() + self.ttl, found)
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return found


def basic_user(login: BasicLogin) -> access.User:
    """The request's Basic user, or 401 (audited) asking for credentials."""
    auth = flask.request.authorization
    if auth is None or auth.type != "basic":
        raise _unauthorized("no credentials", basic=True)
    name, password = auth.username or "", auth.password or ""
    try:
        found = login.user(name, password, flask.request.remote_addr or "")
    except TooManyRequests:
        access.audit("login", "refused", user=name, reason="too many attempts")
        raise
    if found is None:
        access.audit("login", "refused", user=name, reason="wrong name or password")
        raise _unauthorized("wrong name or password", basic=True)
    return found


def _unauthorized(why: str, basic: bool = False) -> Unauthorized:
    challenge = f'Basic realm="{REALM}", charset="UTF-8"' if basic else None
    exc = Unauthorized(f"Sign in to stackscope: {why}.")
    if challenge:
        exc.www_authenticate = [challenge]  # type: ignore[assignment]
    return exc


# --- the proxy ------------------------------------------------------------------------------

class ProxyLogin:
    """The user a trusted proxy names in ``auth.proxy_header``, with a role from its groups."""

    def __init__(self, auth):
        self.networks = [ipaddress.ip_network(n, strict=False) for n in auth.trusted_proxies]
        self.user_header, self.groups_header = auth.proxy_header, auth.groups_header
        self.group_roles, self.default_role = dict(auth.group_roles), auth.default_role

    def trusted(self, peer: str | None) -> bool:
        """Whether the connection's peer is one of the trusted proxies."""
        try:
            address = ipaddress.ip_address((peer or "").split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    def role(self, groups: list[str]) -> str:
        """The highest role of the mapped groups, else ``auth.default_role`` ("" = none)."""
        mapped = [self.group_roles[g] for g in groups if g in self.group_roles]
        return max(mapped, key=access.ROLES.index) if mapped else self.default_role


def proxy_user(login: ProxyLogin) -> access.User:
    """The proxy's user; 401 from an untrusted peer or without the header, 403 with no role."""
    request = flask.request
    name = request.headers.get(login.user_header, "").strip()
    if not login.trusted(request.remote_addr):
        access.audit("login", "refused", user=name or NOBODY.name, reason="not a trusted proxy")
        raise _unauthorized("this address is not a trusted proxy")
    if not name:
        access.audit("login", "refused", reason=f"no {login.user_header} header")
        raise _unauthorized(f"the proxy sent no {login.user_header} header")
    raw = request.headers.get(login.groups_header, "") if login.groups_header else ""
    role = login.role([g.strip() for g in raw.split(",") if g.strip()])
    if not role:
        access.audit("login", "refused", user=name, reason="no group with a role")
        raise audited(f"{name} has no group mapped to a role (auth.group_roles)")
    return access.User(name, role)


# --- CSRF -----------------------------------------------------------------------------------

def cross_site_reason(request) -> str | None:
    """Why this state-changing request looks sent by another site, or None.

    A browser marks every request: ``Sec-Fetch-Site`` (all current browsers) and ``Origin``
    (on every POST). A request with neither is not from a browser, so it carries no ambient
    credential to abuse. From a browser, Dash's renderer also echoes the ``_csrf_token``
    cookie in ``X-CSRFToken`` (double submit), which a page of another origin cannot read.
    """
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site}"
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        return f"Origin {origin} is not this server ({request.host})"
    if site is None and origin is None:
        return None
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        return f"no {CSRF_HEADER} header matching the {CSRF_COOKIE} cookie (reload the page)"
    return None


# --- callbacks reserved to a right ----------------------------------------------------------

def guarded_right(request, user: access.User) -> str | None:
    """The right a posted callback needs (``access.GUARDED_OUTPUTS``) that ``user`` lacks."""
    lacking = {cid: r for cid, r in access.GUARDED_OUTPUTS.items() if not user.may(r)}
    if not lacking:
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None  # Dash answers a body it cannot read itself
    # Dash picks the callback to run by "output" (not "outputs"): that is what is checked.
    for component_id in output_ids(str(body.get("output", ""))):
        if component_id in lacking:
            return lacking[component_id]
    return None


def output_ids(key: str) -> list[str]:
    """The component ids a callback_map key writes: "id.prop", "..a.p...b.q.." (several
    outputs), "id.prop@hash" (allow_duplicate); a pattern id ('{"type":…}') by its type."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    found = []
    for part in parts:
        text = part.rsplit(".", 1)[0]
        if text.startswith("{"):
            try:
                text = str(json.loads(text).get("type", ""))
            except (ValueError, AttributeError):
                continue
        found.append(text)
    return found


# --- the hook -------------------------------------------------------------------------------

def install(server, config: Config) -> None:
    """Sign in every request but /health and the public assets; CSRF and rights checks."""
    mode = config.auth.mode
    sign_in = {"basic": lambda: basic_user(basic), "proxy": lambda: proxy_user(proxy),
               "none": lambda: anonymous(config)}[mode]
    basic = BasicLogin(config.auth.users) if mode == "basic" else None
    proxy = ProxyLogin(config.auth) if mode == "proxy" else None
    access.install_audit_file(server, Path(config.cache.dir) / "audit.log",
                              int(config.auth.audit_max_mb * (1 << 20)))

    @server.before_request
    def check_request():
        path = flask.request.path
        if path == HEALTH:
            return None
        # Nobody until signed in: a refusal is audited without rights it never had.
        flask.g.stackscope_user = NOBODY
        if path.startswith(PUBLIC_PREFIXES):
            return None
        if path == METRICS and telemetry.bearer_matches(
                flask.request.headers.get("Authorization"), config.server.metrics_token):
            return None  # a scraper with server.metrics_token needs no dashboard account
        flask.g.stackscope_user = sign_in()
        safe = flask.request.method in ("GET", "HEAD", "OPTIONS")
        if not safe and (why := cross_site_reason(flask.request)):
            access.audit("csrf", "refused", path=path, reason=why)
            raise audited(f"Refused a request from another site: {why}.")
        if path == UPDATE_COMPONENT and (right := guarded_right(flask.request,
                                                                 flask.g.stackscope_user)):
            user = flask.g.stackscope_user
            raise access.Forbidden(f"{user.name} ({user.role}) may not {right}")
        return None

    @server.after_request
    def give_csrf_cookie(response):
        if flask.request.path != HEALTH and not flask.request.cookies.get(CSRF_COOKIE):
            # Read by Dash's renderer (so not HttpOnly); Strict: never sent by another site.
            response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), samesite="Strict")
        return response

    server.register_error_handler(access.Forbidden, _audited_forbidden)


def audited(description: str) -> access.Forbidden:
    """A 403 whose refusal is already in the audit log."""
    exc = access.Forbidden(description)
    exc.audited = True  # type: ignore[attr-defined]
    return exc


def _audited_forbidden(exc: HTTPException):
    # access.require's refusals (in a callback) and the guarded callbacks' are logged here.
    if not getattr(exc, "audited", False):
        access.audit("forbidden", "refused", path=flask.request.path, reason=exc.description)
    return exc


def anonymous(config: Config) -> access.User:
    """The anonymous admin, for loopback peers (anyone with ``server.allow_anonymous``)."""
    peer = flask.request.remote_addr or ""
    if config.server.allow_anonymous or _loopback_peer(peer):
        return access.ANONYMOUS
    access.audit("login", "refused", reason="auth.mode none: not a loopback peer")
    raise audited('auth.mode = "none" serves loopback only; '
                           "set auth.mode or server.allow_anonymous")


def _loopback_peer(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False

"""Which browser a callback serves, and the per-session rate limits taken on its behalf.

Dash has no session id. The server gives each browser a random id in a cookie (HttpOnly,
SameSite=Lax) on the first response that lacks one — the page load — and callbacks read it
back from the request. One browser is one session whatever its tabs (a per-tab id in a
dcc.Store would let ten tabs take ten budgets). The id is not a credential: a client that
drops or invents cookies only gets another bucket (``query.rate_limit`` bounds how many are
kept); requests without a valid cookie all share one.
"""

from __future__ import annotations

import re
import secrets

import flask

from query.rate_limit import Limit, RateLimiter, wait_text

COOKIE = "stackscope_session"
#: the shared bucket of requests that carry no (valid) session cookie
ANONYMOUS = "-"
_VALID = re.compile(r"[A-Za-z0-9_-]{22}")


def install(server) -> None:
    """Give every browser that has no session cookie a fresh one."""

    @server.after_request
    def give_id(response):
        if current() == ANONYMOUS:
            response.set_cookie(COOKIE, secrets.token_urlsafe(16), httponly=True,
                                samesite="Lax")
        return response


def current() -> str:
    """The session id of the request being served (``ANONYMOUS`` without a valid cookie)."""
    value = flask.request.cookies.get(COOKIE, "") if flask.has_request_context() else ""
    return value if _VALID.fullmatch(value) else ANONYMOUS


def force_limit(config) -> Limit:
    """One forced refresh per ``limits.force_interval`` seconds."""
    return Limit(1, float(config.limits.force_interval))


def query_limit(config) -> Limit:
    """``limits.queries_per_minute`` typed queries a minute."""
    return Limit(config.limits.queries_per_minute, 60.0)


def may_force(limiter: RateLimiter, config, what: str) -> bool:
    """Whether this session may bypass the cache for ``what`` now (a token is taken if so)."""
    return limiter.take((current(), "force", what), force_limit(config)) == 0


def query_wait(limiter: RateLimiter, config) -> str | None:
    """None when this session may send one more typed query; else why not, for the page."""
    wait = limiter.take((current(), "query"), query_limit(config))
    if not wait:
        return None
    return (f"Too many queries from this browser: at most {config.limits.queries_per_minute} "
            f"a minute (limits.queries_per_minute). Try again in {wait_text(wait)}.")

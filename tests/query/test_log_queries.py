"""The predefined LogQL queries: configured ones win, seeds otherwise, $request_id filled safely."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from query.log_queries import SEEDS, expand, needs_request_id, predefined
from query.promql import escape_value
from stack.loki_api import parse_query


def test_seeds_are_used_only_when_none_are_configured():
    assert predefined(()) == SEEDS
    configured = (SimpleNamespace(name="API errors", query='{job="api"} |= "error"'),)
    assert [(q.name, q.query) for q in predefined(configured)] == [
        ("API errors", '{job="api"} |= "error"')]


def test_seeds_cover_the_issue_list():
    names = " ".join(q.name.lower() for q in SEEDS)
    for topic in ("errors", "task-creation", "auth", "websocket", "latency", "request_id"):
        assert topic in names
    assert sum(needs_request_id(q.query) for q in SEEDS) == 1


@pytest.mark.parametrize("seed", SEEDS, ids=lambda q: q.name)
def test_seeds_parse_as_logql(seed):
    # The Loki API stand-in parses the LogQL subset it serves, numeric label filters included.
    parse_query(expand(seed.query, "req-1"))


def test_request_id_is_escaped_into_the_query():
    trace = next(q.query for q in SEEDS if needs_request_id(q.query))
    assert expand(trace, ' a"b\\ ').endswith('request_id="a\\"b\\\\"')
    assert expand('{job="x"}', None) == '{job="x"}'
    with pytest.raises(ValueError, match="request_id"):
        expand(trace, "  ")


def test_logql_escape_round_trips_through_the_parser():
    text = 'quote " backslash \\ newline \n'
    query = parse_query(f'{{job="{escape_value(text)}"}}')
    assert query.matchers[0].value == text

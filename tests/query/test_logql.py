"""query/logql.py: the one stream-selector parser and the texts built on it."""

from __future__ import annotations

import pytest

from query import logql
from stack.loki_api import parse_query


@pytest.mark.parametrize(("query", "span"), [
    ('{job="api"}', (0, 10)),
    ('  {job="a}b"} |= "}"', (2, 12)),
    ("{job=`a}b`} | json", (0, 10)),
    ('sum(count_over_time({job="x\\"}"}[5m]))', (20, 31)),
])
def test_selector_span_skips_braces_inside_strings(query, span):
    assert logql.selector_span(query) == span


@pytest.mark.parametrize("query", ['|= "x"', '{job="open', "{job=`open"])
def test_selector_span_refuses_a_missing_or_open_selector(query):
    with pytest.raises(ValueError):
        logql.selector_span(query)


def test_matchers_read_every_operator_and_quoting():
    inside = ' a="x", b!="y" ,c=~"z\\"q", d!~`w`'
    assert logql.matchers(inside) == [("a", "=", '"x"'), ("b", "!=", '"y"'),
                                      ("c", "=~", '"z\\"q"'), ("d", "!~", "`w`")]


def test_matchers_refuse_what_they_cannot_read():
    with pytest.raises(ValueError):
        logql.matchers('a="x", 5')


def test_with_matcher_edits_the_selector_inside_a_metric_query():
    query = 'sum(count_over_time({job="api"} |= "x" [5m]))'
    assert logql.with_matcher(query, "env", "prod") == (
        'sum(count_over_time({job="api", env="prod"} |= "x" [5m]))')


def test_with_matcher_keeps_an_unreadable_selector_as_typed():
    # the editor must never drop what was typed
    assert logql.with_matcher('{job="a", ???}', "env", "x") == '{job="a", ???, env="x"}'


def test_with_stream_matchers_names_one_stream_exactly():
    query = '{job=~".+"} |= "x"'
    got = logql.with_stream_matchers(query, {"pod": 'a"b', "app": "api"}, absent={"env"})
    assert got == '{job=~".+", app="api", pod="a\\"b", env=""} |= "x"'


def test_is_log_query_and_selector_of():
    assert logql.is_log_query('  {a="b"}') and not logql.is_log_query('sum({a="b"})')
    assert logql.selector_of('{a="b"} | json') == '{a="b"}'


def test_volume_query_keeps_the_whole_log_query():
    assert logql.volume_query('{a="b"} | json ', 300) == (
        'sum by (level, detected_level) (count_over_time({a="b"} | json [5m]))')


def test_stream_name_sorts_and_quotes():
    assert logql.stream_name({"b": "2", "a": 'x"y'}) == '{a="x\\"y", b="2"}'


def test_has_parser_looks_at_the_pipeline_not_inside_strings():
    assert logql.has_parser('{job="api"} | json | level="error"')
    assert logql.has_parser('{job="api"} |= "x" |logfmt')
    assert not logql.has_parser('{job="api"} |= "| json"')
    assert not logql.has_parser('{job="a | json"} |~ `| logfmt`')
    assert not logql.has_parser('{job="api"} |= "jsonish"')


@pytest.mark.parametrize(("query", "kw", "want"), [
    ('{job="api"}', {"parser": "json"}, '{job="api"} | json | status="401"'),
    ('{job="api"} | json ', {"parser": "json"}, '{job="api"} | json | status="401"'),
    ('{job="api"} | logfmt', {"parser": "json"}, '{job="api"} | logfmt | status="401"'),
    ('{job="api"}', {}, '{job="api"} | status="401"'),
])
def test_a_field_value_becomes_a_label_filter(query, kw, want):
    assert logql.with_label_filter(query, "status", "401", **kw) == want


def test_a_field_filter_value_is_escaped_and_a_bad_name_refused():
    query = logql.with_label_filter('{job="api"}', "msg", 'say "hi" \\ now', parser="json")
    assert query == '{job="api"} | json | msg="say \\"hi\\" \\\\ now"'
    parse_query(query)  # Loki's grammar reads it (the escape round trip: test_log_queries)
    with pytest.raises(ValueError, match="label name"):
        logql.with_label_filter('{job="api"}', "a-b", "x")

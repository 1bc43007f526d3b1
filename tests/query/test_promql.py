"""query/promql.py: quoting and naming."""

from __future__ import annotations

from query.promql import escape_value, regex_selector, series_name


def test_escape_value_quotes_backslash_quote_and_newline():
    assert escape_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_series_name_reads_back_as_promql():
    assert series_name({"__name__": "up", "job": "a", "instance": 'x"y'}) == (
        'up{instance="x\\"y",job="a"}')
    assert series_name({"__name__": "up"}) == "up"
    assert series_name({}) == "{}"


def test_regex_selector_escapes_the_pattern():
    assert regex_selector("job", 'a|b"') == '{job=~"a|b\\""}'

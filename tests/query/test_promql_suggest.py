"""Autocomplete in the ad-hoc PromQL box: what is being typed, and whole-text suggestions."""

from __future__ import annotations

import pytest

from query.promql_suggest import completions, context


@pytest.mark.parametrize(("text", "kind", "token", "metric", "label"), [
    ("up", "metric", "up", "", ""),
    ("rate(node_cpu", "metric", "node_cpu", "", ""),
    ('up{job="a"} + proc', "metric", "proc", "", ""),
    ("node_cpu_seconds_total{", "label", "", "node_cpu_seconds_total", ""),
    ('node_cpu{mode="idle", inst', "label", "inst", "node_cpu", ""),
    ('node_cpu{mode="id', "value", "id", "node_cpu", "mode"),
    ('up{job=~"pro', "value", "pro", "up", "job"),
    ("sum by (job, ins", "grouping", "ins", "", ""),
    ("rate(x[5m", None, "", "", ""),
    ("sum by", None, "", "", ""),
    ("", None, "", "", ""),
])
def test_context_of_the_text_end(text, kind, token, metric, label):
    ctx = context(text)
    assert (ctx.kind, ctx.token, ctx.metric, ctx.label) == (kind, token, metric, label)


def test_metric_names_complete_the_whole_text_prefix_matches_first():
    names = ["node_cpu_seconds_total", "process_cpu_seconds_total", "up"]
    assert completions(context("rate(cpu"), names) == [
        "rate(node_cpu_seconds_total", "rate(process_cpu_seconds_total"]
    assert completions(context("rate(node"), names) == ["rate(node_cpu_seconds_total"]


def test_label_names_open_a_matcher_and_values_close_it_quoted():
    assert completions(context("up{jo"), ["job", "instance"]) == ['up{job="']
    assert completions(context('up{path="'), ['say "hi"', "Zürich ☃"]) == [
        'up{path="say \\"hi\\""', 'up{path="Zürich ☃"']


def test_the_metric_narrows_label_lookups():
    assert context('node_cpu{mode="id').match == '{__name__="node_cpu"}'
    assert context("sum(x) by (").match is None


def test_suggestions_are_bounded():
    assert len(completions(context("m"), [f"m{i}" for i in range(500)], limit=50)) == 50

"""Autocomplete in the ad-hoc PromQL box: what is being typed, and whole-text suggestions."""

from __future__ import annotations

import pytest

from query import promql_suggest as ps
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


# --- PromQL's own words and recent queries -----------------------------------------------------

def offered(text: str) -> list[str]:
    return ps.words(text, context(text))


def test_functions_and_aggregations_are_offered_where_an_expression_starts():
    assert offered("ra") == ["rate("]
    assert offered("sum(irat") == ["sum(irate("]
    assert {"histogram_quantile(", "label_replace(", "clamp_min(", "topk(",
            "count_values("} <= set(offered("")) | set(offered("h")) | set(offered("l")) | set(
        offered("c")) | set(offered("t"))
    assert "1 + abs(" in offered("1 + ab")


def test_keywords_are_offered_after_an_operand_not_where_one_starts():
    assert offered("sum(rate(x[5m])) b") == ["sum(rate(x[5m])) by (", "sum(rate(x[5m])) bool "]
    assert offered("up o") == ["up on (", "up offset ", "up or "]
    assert offered('up{job="a"} ') == [f'up{{job="a"}} {w}{t}' for w, t in
                                       ps.AFTER_OPERAND.items()]
    assert offered("rate(o") == []  # an argument starts here: no "offset"
    assert "by (" not in " ".join(offered("b"))


def test_recent_queries_are_all_offered_on_an_empty_box_else_those_containing_the_text():
    recent = ["rate(up[5m])", "sum(up)", "node_load1"]
    assert ps.recent_matching(recent, "") == recent
    assert ps.recent_matching(recent, "UP") == ["rate(up[5m])", "sum(up)"]
    assert ps.recent_matching(recent, "sum(up)") == []  # the text itself is not news


def test_the_browser_keeps_the_last_20_distinct_queries_newest_first():
    recent = [f"q{i}" for i in range(20)]
    assert ps.remembered("q5", recent)[:3] == ["q5", "q0", "q1"]
    kept = ps.remembered("new", recent)
    assert len(kept) == 20 and kept[0] == "new" and "q19" not in kept
    assert ps.remembered("", ["a"]) == ["a"]


@pytest.mark.parametrize("forged", ["x", [1], ["q"] * 21, ["x" * 20_001]])
def test_a_forged_recent_list_is_refused(forged):
    with pytest.raises(ps.Rejected):
        ps.checked_recent(forged)

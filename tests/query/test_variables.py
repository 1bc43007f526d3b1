"""The job and instance variables: several values each, bounded, from the browser and the URL."""

from __future__ import annotations

import pytest

from query import range_state as rp
from query import variables
from query.limits import Rejected


@pytest.mark.parametrize(("sent", "expected"), [
    (None, []), ("", []), ([], []), ("api", ["api"]), (["api", "node"], ["api", "node"]),
    (["api", "", "api", "node"], ["api", "node"]),
])
def test_a_variable_is_none_one_value_or_several(sent, expected):
    assert variables.chosen(sent, "job") == expected


@pytest.mark.parametrize("forged", [5, {"a": 1}, ["a", 1], ["x" * 2000],
                                    ["v"] * (variables.MAX_CHOSEN + 1), ["v"] * 10_000])
def test_a_forged_variable_is_refused_with_words(forged):
    with pytest.raises(Rejected, match="job"):
        variables.chosen(forged, "job")


def test_the_url_repeats_the_key_once_per_value_and_old_links_still_read():
    search = rp.with_params("?tab=metrics", {"metrics.job": ["api", "node exporter"]})
    assert search == "?tab=metrics&metrics.job=api&metrics.job=node+exporter"
    assert variables.from_url(rp.url_values(search, "metrics.job")) == ["api", "node exporter"]
    assert variables.from_url(rp.url_values("?metrics.job=api", "metrics.job")) == ["api"]
    assert rp.with_params(search, {"metrics.job": []}) == "?tab=metrics"


def test_other_keys_keep_all_their_values_when_one_key_changes():
    search = "?metrics.instance=a&metrics.instance=b&tab=metrics"
    assert rp.with_params(search, {"tab": "logs"}) == (
        "?metrics.instance=a&metrics.instance=b&tab=logs")


def test_a_url_with_too_many_values_is_refused():
    search = "?" + "&".join(f"metrics.job=j{i}" for i in range(variables.MAX_CHOSEN + 1))
    with pytest.raises(Rejected):
        variables.from_url(rp.url_values(search, "metrics.job"))

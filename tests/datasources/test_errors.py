"""The error family: secrets scrubbed from its text, its fields kept through pickling."""

from __future__ import annotations

import pickle

import pytest

from datasources.errors import BadResponse, Unreachable, scrub


@pytest.mark.parametrize(("text", "expected"), [
    ("Authorization: Bearer s3cr3t-tok", "Authorization: Bearer [redacted]"),
    ('{"auth": "pa\\"ss"}', '{"auth": "[redacted]"}'),  # JSON-escaped in an echo
    ("GET /?t=pa%22ss", "GET /?t=[redacted]"),  # percent-encoded
    ("via http://ops:hunter2@10.0.0.1/x", "via http://[redacted]@10.0.0.1/x"),
    ("s3cr3t-tok-long and s3cr3t-tok", "[redacted] and [redacted]"),  # the longer one first
    ("nothing secret here", "nothing secret here"),
])
def test_scrub_removes_every_form_of_a_secret_and_url_user_info(text, expected):
    assert scrub(text, ["s3cr3t-tok", 'pa"ss', "", "s3cr3t-tok-long"]) == expected


def test_scrubbing_an_error_rewrites_its_message_type_and_args():
    err = BadResponse("Loki", "echo: OrgID team-a", error_type="team-a failed")
    err.scrub(["team-a"])
    assert (err.message, err.error_type, err.args) == (
        "echo: OrgID [redacted]", "[redacted] failed", ("echo: OrgID [redacted]",))
    assert err.describe() == "Loki sent a bad response: [redacted] failed: echo: OrgID [redacted]"


def test_retry_after_survives_the_disk_cache():
    err = pickle.loads(pickle.dumps(Unreachable("Loki", "HTTP 429", status=429, retry_after=7.0)))
    assert (type(err), err.status, err.retry_after) == (Unreachable, 429, 7.0)

"""The Metrics tab's live refresh in headless Chromium: a tick answers with a Patch, small,
and the chart still ends at the newest point."""

from __future__ import annotations

import json

from layouts import ids
from stack.poll import until
from tests.browser.test_metrics import figure, metrics_app  # noqa: F401 (a fixture)

# Every answer of the ad-hoc panel's callback, as the renderer receives it: its size, and
# whether its figure is a Patch or the whole figure; plus the record the browser keeps.
RECORD_JS = """
if (!window.__answers) {
  window.__answers = [];
  const original = window.fetch;
  window.fetch = async function (...args) {
    const resp = await original.apply(this, args);
    const url = String((args[0] && args[0].url) || args[0]);
    if (url.includes('_dash-update-component')) {
      resp.clone().text().then((text) => {
        if (!text) { return; }  // 204: the callback changed nothing
        const graph = Object.entries(JSON.parse(text).response || {})
          .find(([id]) => id.includes('"adhoc"') && id.includes(arguments[0]));
        if (graph) {
          window.__answers.push({size: text.length,
                                 patch: '__dash_patch_update' in graph[1].figure});
        }
      });
    }
    return resp;
  };
}
"""
HELD_JS = """
const state = window.store.getState();
let node = state.layout;
const found = (state.paths.objs['panel,type'] || [])
  .find((p) => p.values[0] === 'adhoc' && p.values[1] === arguments[0]);
if (!found) { return null; }
for (const key of found.path) {
  node = node[key];
}
return node.props.data || null;
"""


def newest(dash_duo) -> float | None:
    fig = figure(dash_duo, "adhoc")
    return max((x for t in (fig or {}).get("traces", []) for x in t["x"]), default=None)


def test_live_refresh_sends_small_patches_and_shows_the_newest_point(metrics_app, dash_duo):  # noqa: F811
    # A series with a point at every step from the start (the history Prometheus may have
    # scraped itself for less than the 60 s a live chart re-sends at its right end).
    metrics_app('[refresh]\nmetrics = 1\n',
                **{"metrics.from": "now-1h", "metrics.q": "vector(time())"})
    dash_duo.driver.execute_script(RECORD_JS.replace("arguments[0]", json.dumps(
        ids.METRICS_GRAPH)))
    first = until(lambda: newest(dash_duo), message="no live data")
    # The refresh ticks every second; the 1 h window moves a step every few: patches.
    answers = until(lambda: (a := dash_duo.driver.execute_script("return window.__answers"))
                    and sum(x["patch"] for x in a) >= 3 and a, timeout=60,
                    message="three patched refreshes")
    until(lambda: newest(dash_duo) > first, timeout=10, message="live refresh did not move")
    whole = [a["size"] for a in answers if not a["patch"]]
    patches = [a["size"] for a in answers if a["patch"]]
    # The page load's whole figure is in the recorded answers only if it came after the hook.
    reference = max(whole) if whole else None
    assert max(patches) < 8_000
    if reference:
        assert max(patches) < reference / 3
    # The chart ends where the browser's record of it says: at the newest point asked for.
    def ends_at_the_record():
        held = dash_duo.driver.execute_script(HELD_JS, ids.METRICS_HELD)
        return held and newest(dash_duo) == held["reach"] * 1000
    until(ends_at_the_record, 10, message="the chart does not end where its record says")
    assert dash_duo.get_logs() == []

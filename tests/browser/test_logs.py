"""The Logs tab in headless Chromium against the Loki test double holding backend-style logs."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app
from datasources.loki import MAX_ENTRIES
from stack.poll import until
from tests.recording_upstream import RecordingUpstream

BACKEND = {"job": "backend", "service_name": "backend", "env": "prod"}
WORKER = {"job": "worker", "service_name": "worker", "env": "prod"}
NGINX = {"job": "nginx", "service_name": "nginx", "env": "prod"}
EVENTS = [
    ("info", "api.tasks", "task created"),
    ("info", "api.http", "request completed"),
    ("error", "api.tasks", "task creation failed: database is locked"),
    ("warning", "api.auth", "401 unauthorized: invalid token"),
    ("info", "api.ws", "websocket disconnected (close code 1006)"),
    ("debug", "api.db", "query finished"),
]


def backend_entries(start_ns: int, seconds: int = 2400, per_second: int = 5) -> list[tuple]:
    """JSON backend lines, worker lines, nginx access lines; equal-timestamp clusters too."""
    entries, n = [], 0
    for s in range(seconds):
        for k in range(per_second):
            t = start_ns + s * 10**9 + k * 137_000_001
            level, logger, message = EVENTS[n % len(EVENTS)]
            record = {"timestamp": _rfc3339(t), "level": level, "logger": logger,
                      "message": message, "request_id": f"req-{n:06d}",
                      "user_id": str(n % 13), "trace_id": f"{n:032x}", "span_id": f"{n:016x}",
                      "duration_ms": (n * 37) % 1500}
            entries.append((t, BACKEND, json.dumps(record)))
            n += 1
        t = start_ns + s * 10**9 + 500_000_000
        entries.append((t, NGINX, f'127.0.0.1 - - "GET /api/tasks HTTP/1.1" 200 {s % 900}'))
        if s % 4 == 0:
            entries.append((t, WORKER, json.dumps({"level": "info", "logger": "worker",
                                                   "message": f"job {s} done"})))
    burst = start_ns + 600 * 10**9 + 7  # a batch flushed at one nanosecond, across streams
    entries += [(burst, BACKEND, json.dumps({"level": "info", "message": f"batch {i}"}))
                for i in range(40)]
    entries += [(burst, s, "=cmd|' /C calc'!A0 shared line") for s in (BACKEND, WORKER)]
    return entries


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


@pytest.fixture
def backend_loki(make_loki_double):
    """A Loki double whose logs sit between 45 and 5 minutes ago (inside "Last 1 hour")."""
    start_ns = time.time_ns() - 45 * 60 * 10**9
    entries = backend_entries(start_ns)
    double = make_loki_double(entries)
    double.entries = entries
    return double


def logs_toml(url: str) -> str:
    return f'[loki]\nurl = "{url}"\n\n[refresh]\nlogs = 3600\n'


def open_logs(dash_duo, config):
    dash_duo.start_server(create_app(config))
    dash_duo.driver.get(dash_duo.server_url + "/?tab=logs")
    dash_duo.wait_for_element("#logs-query")


def grid_rows(dash_duo):
    return dash_duo.find_elements("#logs-grid .ag-center-cols-container .ag-row")


def cell_texts(dash_duo, col_id):
    """The texts of one column's rendered cells, read in one go (rows re-render under us)."""
    return dash_duo.driver.execute_script(
        "return [...document.querySelectorAll("
        "'#logs-grid .ag-center-cols-container [col-id=\"' + arguments[0] + '\"]')]"
        ".map(e => e.textContent)", col_id)


def run_query(dash_duo, text):
    box = dash_duo.find_element("#logs-query")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    dash_duo.find_element("#logs-run").click()


def test_query_shows_rows_volume_and_how_many_the_limit_cut(dash_duo, write_config,
                                                            backend_loki, screens):
    open_logs(dash_duo, write_config(logs_toml(backend_loki.url)))
    run_query(dash_duo, '{job="backend"} | json')
    until(lambda: len(grid_rows(dash_duo)) > 10)
    total = sum(1 for e in backend_loki.entries if e[1] is BACKEND)
    dash_duo.wait_for_text_to_equal(
        "#logs-count", f"showing 1,000 of {total:,} entries (limit 1,000)", timeout=15)
    bars = dash_duo.find_elements("#logs-volume .barlayer .trace")
    assert {"error", "warning", "info"} <= {
        e.text for e in dash_duo.find_elements("#logs-volume .legendtext")}
    assert len(bars) >= 3
    first = grid_rows(dash_duo)[0]
    level = first.find_element(By.CSS_SELECTOR, '[col-id="level"]')
    assert level.text in ("info", "error", "warning", "debug")
    assert "background-color" in level.get_attribute("style")
    assert first.find_element(By.CSS_SELECTOR, '[col-id="@service"]').text == "backend"
    dash_duo.driver.save_screenshot(str(screens / "logs.png"))
    dash_duo.find_element("#logs-search").send_keys("invalid token")
    until(lambda: set(cell_texts(dash_duo, "@message")) == {"401 unauthorized: invalid token"})
    assert dash_duo.get_logs() == []


def test_label_browser_inserts_selector_and_loki_errors_show(dash_duo, write_config,
                                                            backend_loki):
    open_logs(dash_duo, write_config(logs_toml(backend_loki.url)))
    until(lambda: len(grid_rows(dash_duo)) > 0 or dash_duo.find_element("#logs-count").text)
    run_query(dash_duo, '{env="prod"} |= "job"')
    dash_duo.select_dcc_dropdown("#logs-label-name", value="job")
    until(lambda: [b for b in dash_duo.find_elements(".logs-label-value") if b.text == "worker"])
    dash_duo.find_element('.logs-label-value[title=\'job="worker"\']').click()
    until(lambda: dash_duo.find_element("#logs-query").get_attribute("value")
          == '{env="prod", job="worker"} |= "job"')
    dash_duo.find_element("#logs-run").click()
    until(lambda: set(cell_texts(dash_duo, "@service")) == {"worker"})
    run_query(dash_duo, '{job="backend')
    dash_duo.wait_for_contains_text(
        "#logs-query-error", "parse error at line 1, col 6: literal not terminated", timeout=15)
    assert dash_duo.get_logs() == []


def test_new_direction_reruns_the_last_query_not_the_unsaved_text(dash_duo, write_config,
                                                                   backend_loki):
    open_logs(dash_duo, write_config(logs_toml(backend_loki.url)))
    run_query(dash_duo, '{job="worker"}')
    until(lambda: set(cell_texts(dash_duo, "@service")) == {"worker"})
    newest = cell_texts(dash_duo, "@time")[0]
    box = dash_duo.find_element("#logs-query")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys('{job="nginx"}')  # typed, never run
    dash_duo.driver.find_element(By.XPATH, '//label[text()="Oldest first"]').click()
    until(lambda: (cell_texts(dash_duo, "@time") or [newest])[0] < newest)
    assert set(cell_texts(dash_duo, "@service")) == {"worker"}
    assert dash_duo.get_logs() == []


def test_export_downloads_every_entry_of_the_range_once(dash_duo, write_config, backend_loki,
                                                        screens):
    open_logs(dash_duo, write_config(logs_toml(backend_loki.url)))
    run_query(dash_duo, '{env="prod"}')
    until(lambda: len(grid_rows(dash_duo)) > 10)
    dash_duo.find_element("#logs-export").click()
    dash_duo.wait_for_contains_text("#logs-export-status", "Exported", timeout=90)
    status = dash_duo.find_element("#logs-export-status").text
    assert status.startswith(f"Exported {len(backend_loki.entries):,} entries, "), status
    folder = Path(dash_duo.download_path)
    path = until(lambda: [p for p in folder.glob("logs-*.csv")], timeout=20)[0]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    got = Counter((r["timestamp"], r["job"], r["line"].removeprefix("'")) for r in rows)
    want = Counter((_rfc3339(t), labels["job"], line) for t, labels, line in
                   backend_loki.entries)
    assert got == want
    assert len(rows) == len(backend_loki.entries) > 12_000
    dash_duo.driver.save_screenshot(str(screens / "logs-exported.png"))
    assert dash_duo.get_logs() == []


def export_workers() -> list[psutil.Process]:
    """Running background-callback workers: processes forked from this one (same command)."""
    me = psutil.Process()
    found = []
    for child in me.children():
        try:
            if child.cmdline() == me.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_cancel_stops_a_running_export_says_so_and_removes_its_file(dash_duo, write_config,
                                                                    black_hole):
    host, port = black_hole  # Loki accepts the connection and never answers
    timeout = 8
    config = write_config(f'[loki]\nurl = "http://{host}:{port}"\ntimeout = {timeout}\n')
    open_logs(dash_duo, config)
    export_button = dash_duo.find_element("#logs-export")
    export_button.click()
    cancel = dash_duo.find_element("#logs-export-cancel")
    until(lambda: cancel.is_enabled() and not export_button.is_enabled())
    assert dash_duo.find_element("#logs-export-progress").is_displayed()
    assert until(export_workers, 5, message="the export's worker process")
    folder = Path(config.cache.dir) / "exports"
    reserved = until(lambda: list(folder.glob("logs-*.csv")), message="the export's file")
    # the label sits beside the bar in digits of one width, never cut
    rate = dash_duo.find_element("#logs-export-rate")
    until(lambda: rate.text == "0 rows · 0/s")
    assert dash_duo.driver.execute_script(
        "const e = arguments[0]; return e.scrollWidth <= e.clientWidth && "
        "getComputedStyle(e).fontVariantNumeric === 'tabular-nums';", rate)
    cancel.click()
    until(lambda: export_button.is_enabled() and not cancel.is_enabled(), timeout=5)
    assert not dash_duo.find_element("#logs-export-progress").is_displayed()
    dash_duo.wait_for_text_to_equal("#logs-export-status",
                                    "Export cancelled; its partial file was removed.")
    assert not any(p.exists() for p in reserved) and not list(folder.glob("*.part"))
    # Had the job lived on, Loki's timeout would have ended it with "Export failed: …" after
    # 8 s; its worker is gone well before that, so nothing can write a status any more.
    until(lambda: not export_workers(), timeout / 2, message="the worker gone")
    assert "failed" not in dash_duo.find_element("#logs-export-status").text
    assert dash_duo.get_logs() == []


def test_loki_down_says_so_and_how_to_point_at_one(dash_duo, write_config, closed_port,
                                                   screens):
    url = f"http://admin:s3cret@127.0.0.1:{closed_port}"  # the password must stay server-side
    open_logs(dash_duo, write_config(logs_toml(url)))
    dash_duo.wait_for_contains_text(
        ".logs-unreachable", f"Loki is not reachable at http://127.0.0.1:{closed_port}",
        timeout=15)
    text = dash_duo.find_element(".logs-unreachable").text
    assert "connection refused" in text and "STACKSCOPE_LOKI_URL" in text
    assert dash_duo.find_elements(".alert-danger") == []
    assert "s3cret" not in dash_duo.driver.page_source
    dash_duo.driver.save_screenshot(str(screens / "logs-loki-down.png"))
    assert dash_duo.get_logs() == []


@pytest.fixture
def export_holding_loki():
    """A Loki that answers the tab at once but holds every export page until the test ends.

    (A black hole would hold the tab's own queries too, and Chromium's six connections per
    host would then queue the second tab's Export click itself.)"""
    release = threading.Event()

    def query_range(params):
        if params.get("limit") == str(MAX_ENTRIES):  # an export's page, not the table's
            release.wait(60)
        data = ({"resultType": "matrix", "result": []} if "step" in params else
                {"resultType": "streams", "result": []})
        return json.dumps({"status": "success", "data": data}).encode()

    labels = json.dumps({"status": "success", "data": []}).encode()
    server = RecordingUpstream({"/loki/api/v1/query_range": query_range,
                                "/loki/api/v1/labels": labels})
    yield server
    release.set()
    server.stop()


def test_an_export_past_the_cap_says_queued_until_a_slot_frees(dash_duo, write_config,
                                                                export_holding_loki):
    open_logs(dash_duo, write_config(f'[loki]\nurl = "{export_holding_loki.url}"\n'
                                     "[exports]\nmax_running = 1\n"))
    driver, queue = dash_duo.driver, "#logs-export-queue"
    first = driver.current_window_handle
    dash_duo.find_element("#logs-export").click()
    until(lambda: dash_duo.find_element(queue).text == "running")
    driver.switch_to.new_window("tab")  # a second browser tab: a page of its own
    second = driver.current_window_handle
    driver.get(dash_duo.server_url + "/?tab=logs")
    dash_duo.wait_for_text_to_equal("#logs-count", "0 entries", timeout=15)
    dash_duo.find_element("#logs-export").click()
    until(lambda: dash_duo.find_element(queue).text == "queued (1 ahead)")
    assert dash_duo.find_element(queue).is_displayed()
    driver.switch_to.window(first)
    dash_duo.find_element("#logs-export-cancel").click()  # the killed worker frees its slot
    driver.switch_to.window(second)
    until(lambda: dash_duo.find_element(queue).text == "running", timeout=20)
    dash_duo.find_element("#logs-export-cancel").click()
    until(lambda: not dash_duo.find_element(queue).is_displayed())
    assert dash_duo.get_logs() == []


# --- live tail, typed columns, row details -------------------------------------------------

def api_entries(start_ns: int, count: int, step_ns: int = 10**9, first: int = 0) -> list[tuple]:
    """JSON API lines with a numeric duration_ms, one every ``step_ns``."""
    return [(start_ns + i * step_ns, BACKEND, json.dumps({
        "level": ("info", "warn", "err")[i % 3], "logger": "api.http",
        "message": f"request {first + i}", "request_id": f"req-{first + i:06d}",
        "duration_ms": [0.403, 9.5, 10.25, 100.0, 1500.75][i % 5] + (first + i) % 7,
        "status_code": 200})) for i in range(count)]


def grid_js(dash_duo, body, *args):
    """Run ``body`` with ``api`` bound to the logs grid's AG Grid API."""
    return dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('logs-grid'); " + body, *args)


def first_visible(dash_duo):
    return grid_js(dash_duo, "const n = window.dashAgGridFunctions"
                             ".stackscopeLogsFirstVisible(api); return n && n.id;")


def displayed(dash_duo):
    return grid_js(dash_duo, "return api.getDisplayedRowCount();")


def column_in_order(dash_duo, field):
    """One field of every displayed row, in the grid's order (the DOM's may differ)."""
    return grid_js(dash_duo, "const out = []; api.forEachNodeAfterFilterAndSort("
                             "n => out.push(n.data[arguments[0]])); return out;", field)


def scroll_grid(dash_duo, top):
    dash_duo.driver.execute_script(
        "document.querySelector('#logs-grid .ag-body-viewport').scrollTop = arguments[0];", top)


def test_live_tail_keeps_the_readers_place_and_shows_new_rows_at_the_top(
        dash_duo, write_config, make_loki_double):
    start = time.time_ns() - 20 * 60 * 10**9
    entries = api_entries(start, 300)
    loki = make_loki_double(entries)
    open_logs(dash_duo, write_config(
        f'[loki]\nurl = "{loki.url}"\ncache_ttl = 0.01\n\n[refresh]\nlogs = 1\n\n'
        "[limits]\nqueries_per_minute = 100000\n"))
    run_query(dash_duo, '{job="backend"} | json')
    until(lambda: displayed(dash_duo) == 300, timeout=15)
    scroll_grid(dash_duo, 3000)  # well down the list: about row 100
    until(lambda: first_visible(dash_duo) is not None)
    place = first_visible(dash_duo)
    assert grid_js(dash_duo, "return api.getRowNode(arguments[0]).rowIndex;", place) > 50
    more = entries + api_entries(start + 300 * 10**9, 5, first=300)
    loki.load(more)  # five newer lines arrive above the reader
    until(lambda: displayed(dash_duo) == 305, timeout=15)
    time.sleep(0.2)  # the grid has drawn: the place must not move afterwards either
    assert first_visible(dash_duo) == place
    scroll_grid(dash_duo, 0)  # at the top, new rows are what the reader wants
    until(lambda: first_visible(dash_duo) != place)
    loki.load(more + api_entries(start + 305 * 10**9, 3, first=305))
    until(lambda: displayed(dash_duo) == 308, timeout=15)
    newest = grid_js(dash_duo, "const n = api.getDisplayedRowAtIndex(0); "
                               "return {id: n.id, data: n.data};")
    assert newest["data"]["@message"] == "request 307"
    until(lambda: first_visible(dash_duo) == newest["id"])
    assert dash_duo.get_logs() == []


def test_numeric_fields_sort_and_filter_as_numbers(dash_duo, write_config, make_loki_double):
    loki = make_loki_double(api_entries(time.time_ns() - 10 * 60 * 10**9, 40))
    open_logs(dash_duo, write_config(logs_toml(loki.url)))
    run_query(dash_duo, '{job="backend"} | json')
    until(lambda: displayed(dash_duo) == 40, timeout=15)
    dash_duo.select_dcc_dropdown("#logs-columns", value="duration_ms")
    until(lambda: cell_texts(dash_duo, "duration_ms"))
    grid_js(dash_duo, "api.applyColumnState({state: [{colId: 'duration_ms', sort: 'asc'}], "
                      "defaultState: {sort: null}});")
    values = column_in_order(dash_duo, "duration_ms")
    assert values == sorted(values) and values[0] < 1 < 100 < values[-1]
    assert {type(v) for v in values} <= {int, float}  # numbers in rowData, not text
    grid_js(dash_duo, "api.setFilterModel({duration_ms: {filterType: 'number', "
                      "type: 'greaterThan', filter: 1000}});")
    until(lambda: displayed(dash_duo) == 8)  # 1500.75 + k, every fifth of 40 lines
    assert dash_duo.get_logs() == []


def click(dash_duo, element):
    """Click ``element`` once it is scrolled to the middle of the window (again if the page
    moved under it: the grid keeps its focused cell in view)."""
    def scrolled_click():
        # "instant": Bootstrap makes scrolling smooth, which would still be moving at the click
        dash_duo.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
        try:
            element.click()
        except ElementClickInterceptedException:
            return False
        return True
    until(scrolled_click, 5)


def test_a_row_opens_its_fields_json_and_context_and_a_field_becomes_a_filter(
        dash_duo, write_config, make_loki_double, screens):
    start = time.time_ns() - 30 * 60 * 10**9
    other = {"job": "worker", "service_name": "worker", "env": "prod"}
    entries = api_entries(start, 40) + [  # another stream interleaved: not in the context
        (start + i * 10**9 + 5, other, f"worker line {i}") for i in range(40)]
    loki = make_loki_double(entries)
    open_logs(dash_duo, write_config(logs_toml(loki.url)))
    run_query(dash_duo, '{job="backend"}')
    until(lambda: displayed(dash_duo) == 40, timeout=15)
    grid_js(dash_duo, "api.ensureIndexVisible(19, 'middle');")
    row = until(lambda: [r for r in grid_rows(dash_duo)
                         if r.get_attribute("row-index") == "19"])[0]
    click(dash_duo, row.find_element(By.CSS_SELECTOR, '[col-id="@message"]'))  # request 20
    dash_duo.wait_for_contains_text("#logs-details", "request_id", timeout=15)
    details = dash_duo.find_element("#logs-details")
    fields = {tr.find_elements(By.TAG_NAME, "td")[1].text: tr.find_elements(
        By.TAG_NAME, "td")[2].text for tr in details.find_elements(By.CSS_SELECTOR, "tr")}
    assert fields["job"] == "backend" and fields["request_id"] == "req-000020"
    duration = json.dumps(json.loads(entries[20][2])["duration_ms"])  # as Loki's | json has it
    assert fields["duration_ms"] == duration and fields["status_code"] == "200"
    assert '"request_id": "req-000020"' in details.find_element(
        By.CSS_SELECTOR, ".logs-details-json").text
    context = until(lambda: [e.text for e in dash_duo.find_elements(".logs-context-text")],
                    timeout=15)
    messages = [json.loads(t)["message"] for t in context]
    assert messages == [f"request {i}" for i in range(10, 31)]  # 10 before, it, 10 after
    assert "request 20" in dash_duo.find_element(".logs-context-this").text
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({behavior: 'instant'});",
                                   details)
    dash_duo.driver.save_screenshot(str(screens / "logs-details.png"))
    click(dash_duo, dash_duo.find_element(
        '.logs-field-filter[title=\'add request_id="req-000020" to the query\']'))
    until(lambda: dash_duo.find_element("#logs-query").get_attribute("value")
          == '{job="backend"} | json | request_id="req-000020"')
    click(dash_duo, dash_duo.find_element("#logs-run"))
    until(lambda: displayed(dash_duo) == 1, timeout=15)
    assert dash_duo.get_logs() == []


def test_a_limit_out_of_range_says_so_beside_the_box_and_an_edit_shows_custom(
        dash_duo, write_config, make_loki_double):
    loki = make_loki_double(api_entries(time.time_ns() - 10 * 60 * 10**9, 40))
    open_logs(dash_duo, write_config(logs_toml(loki.url)))
    run_query(dash_duo, '{job="backend"}')
    until(lambda: displayed(dash_duo) == 40, timeout=15)
    box = dash_duo.find_element("#logs-limit")

    def type_limit(text):
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text, Keys.ENTER)

    for typed in ("0", "5001"):
        type_limit(typed)
        dash_duo.wait_for_text_to_equal("#logs-limit-error",
                                        "limit must be a whole number from 1 to 5,000")
        assert "is-invalid" in box.get_attribute("class")
        assert displayed(dash_duo) == 40  # nothing ran: not the default 1 000 unannounced
    type_limit("7")
    dash_duo.wait_for_text_to_equal("#logs-limit-error", "")
    until(lambda: displayed(dash_duo) == 7, timeout=15)
    # the text is no longer the preset's: the menu says so
    assert dash_duo.find_element("#logs-preset").text == "custom"
    dash_duo.select_dcc_dropdown("#logs-preset", value="Errors")
    until(lambda: dash_duo.find_element("#logs-query").get_attribute("value").startswith(
        '{job=~".+"} |~ `"level"'))
    assert dash_duo.get_logs() == []

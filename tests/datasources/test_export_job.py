"""Export plumbing shared by the tab and the CLI: progress, file names, clearing old files."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from datasources import export_job
from datasources.export_job import export_name, prune, tracked, unique_path
from datasources.logs_export import export_csv

T0 = 1_714_564_800 * 10**9
HOUR = 3600 * 10**9


def page(*ns):
    return pd.DataFrame({"timestamp": pd.to_datetime(np.array(ns, dtype=np.int64), utc=True),
                         "line": ["x"] * len(ns)})


def test_progress_counts_rows_pages_and_time_covered_forward():
    seen = []
    clock = iter([0.0, 1.0, 2.0, 4.0]).__next__
    pages = [page(T0, T0 + HOUR // 4), page(), page(T0 + HOUR // 2)]
    out = list(tracked(pages, T0, T0 + HOUR, "forward",
                       lambda p: seen.append((p.rows, p.pages, p.fraction, p.rate)), clock))
    assert len(out) == 3
    assert seen == [(2, 1, 0.25, 2.0), (2, 2, 0.25, 1.0), (3, 3, 0.5, 0.75)]


def test_progress_backward_counts_from_the_end():
    seen = []
    list(tracked([page(T0 + 3 * HOUR // 4, T0 + HOUR // 2)], T0, T0 + HOUR, "backward",
                 lambda p: seen.append((p.current_ns, p.fraction))))
    assert seen == [(T0 + HOUR // 2, 0.5)]


def test_export_names_show_the_range_and_never_overwrite(tmp_path):
    name = export_name(T0, T0 + HOUR)
    assert name == "logs-20240501T120000Z-20240501T130000Z.csv"
    first = unique_path(tmp_path, name)
    first.write_text("a")
    second = unique_path(tmp_path, name)
    assert second.name == "logs-20240501T120000Z-20240501T130000Z-2.csv"
    assert first.read_text() == "a"


def test_a_name_is_reserved_before_anything_is_written(tmp_path):
    name = export_name(T0, T0 + HOUR)
    first, second = unique_path(tmp_path, name), unique_path(tmp_path, name)
    assert first != second and first.exists() and second.exists()


def test_concurrent_exports_of_one_range_never_share_a_file(tmp_path):
    name = export_name(T0, T0 + HOUR)
    start = threading.Barrier(16)

    def reserve(_):
        start.wait()
        return unique_path(tmp_path, name)

    with ThreadPoolExecutor(16) as pool:
        paths = list(pool.map(reserve, range(16)))
    assert len(set(paths)) == 16 == len(list(tmp_path.iterdir()))


def test_the_finished_export_replaces_its_reservation(tmp_path):
    path = unique_path(tmp_path, export_name(T0, T0 + HOUR))
    export_csv([page(T0, T0 + 1)], path)
    assert path.read_text().splitlines()[0] == "timestamp,line"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_prune_drops_old_exports_and_abandoned_parts_only(tmp_path):
    now = 1_000_000.0
    files = {"old.csv": now - 2 * 86400, "new.csv": now - 60,
             "dead.csv.part": now - 3600, "live.csv.part": now - 5}
    for name, mtime in files.items():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))
    assert prune(tmp_path, now=lambda: now) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.csv.part", "new.csv"]


def test_discard_removes_what_a_cancelled_export_left_and_nothing_else(tmp_path):
    name = export_job.export_name(0, 3600 * 10**9)
    reserved = export_job.unique_path(tmp_path, name)  # reserved, still empty
    (tmp_path / (name + ".part")).write_text("timestamp,line\r\n")
    assert export_job.discard(tmp_path, name)
    assert list(tmp_path.iterdir()) == []
    finished = export_job.unique_path(tmp_path, name)
    finished.write_text("timestamp,line\r\n")  # an earlier export awaiting its download
    assert not export_job.discard(tmp_path, finished.name) and finished.exists()
    (tmp_path / "notes.txt").write_text("")
    for forged in ("../notes.txt", "notes.txt", None, "", reserved.name + "/.."):
        assert not export_job.discard(tmp_path, forged)
    assert (tmp_path / "notes.txt").exists()

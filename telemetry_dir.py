"""Where stackscope's processes put their metric samples (prometheus_client multi-process mode).

Kept apart from ``telemetry``: this must run before ``prometheus_client`` is first imported,
which picks its value store from the environment at import time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use(cache_dir: str | os.PathLike, *, wipe: bool) -> Path:
    """Point multi-process mode at ``$PROMETHEUS_MULTIPROC_DIR``, else ``<cache dir>/metrics``;
    ``wipe`` (the first process of a start) removes the last run's samples."""
    path = Path(os.environ.get(MULTIPROC_ENV) or Path(cache_dir) / "metrics")
    if wipe:
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def process_gone(pid: int) -> None:
    """Drop a finished worker's live-gauge files (gunicorn's ``child_exit``)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)

"""Where the Logs tab's whole-range exports run: this server's processes, or Celery workers.

Without ``exports.broker`` each export runs in a process this server forks (Dash's
``DiskcacheManager``, its jobs under ``<cache.dir>/jobs``). With a Redis URL there, Dash's
``CeleryManager`` sends them to workers started with

    celery -A app.celery_app worker --concurrency 4

which build the same app from the same configuration (so the callbacks, and their task
names, are the same) and run the export there; progress and the result go back through
Redis, and Cancel revokes the task (its pool process is killed, as the local manager kills
its process). The queue that holds exports to ``exports.max_running`` lives in
``<cache.dir>/export-queue`` on the worker's host; the files go to ``exports.dir``, which the
serving processes read the finished files from.
"""

from __future__ import annotations

from pathlib import Path

from config import Config

#: seconds Celery keeps a task's result in Redis: Dash reads it within a poll, and a page
#: closed before that leaves it behind
RESULT_EXPIRES = 3600


def celery_for(config: Config):
    """A Celery app on ``exports.broker`` (broker and result backend both)."""
    from celery import Celery

    url = config.exports.broker
    app = Celery("stackscope", broker=url, backend=url)
    app.conf.update(
        result_expires=RESULT_EXPIRES,
        # One task at a time per pool process: an export is long, a prefetched one would
        # wait behind it while another worker idles.
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # stackscope configures logging itself (log.format); Celery must not replace it.
        worker_hijack_root_logger=False,
    )
    return app


def background_manager(config: Config):
    """The Dash background-callback manager for ``config``: Celery or the local one."""
    if config.exports.broker:
        from dash import CeleryManager

        return CeleryManager(celery_for(config))
    import diskcache
    from dash import DiskcacheManager

    return DiskcacheManager(diskcache.Cache(str(Path(config.cache.dir) / "jobs")))

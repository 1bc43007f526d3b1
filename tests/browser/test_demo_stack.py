"""`make run`'s stack in a browser: a crashed Prometheus shows stale, comes back, and recovers."""

from __future__ import annotations

import signal

import psutil

from stack.poll import until
from tests.browser.test_metrics import figure
from tests.browser.test_stale import notice_text
from tests.stack.test_run import processes_under, start_run


def url_of(log_text: str, name: str) -> str:
    """The URL the readiness lines give for ``name``."""
    line = next(x for x in log_text.splitlines() if x.strip().startswith(name + " "))
    return line.split()[1]


def healthy(notice: str) -> bool:
    """A panel's notices hold no badge and no error (notes, such as an alert firing over the
    whole range, may stay)."""
    return "stale since" not in notice and "unreachable" not in notice


def main_prometheus(directory) -> psutil.Process | None:
    """The stack's running Prometheus server process, if there is one."""
    found = [p for p in processes_under(directory)
             if any(a.startswith("--config.file=") and a.endswith("prometheus.yml")
                    for a in p.cmdline())]
    return found[0] if len(found) == 1 else None


def test_killing_the_demo_prometheus_shows_stale_then_recovers(dash_duo, tmp_path, screens):
    # A live panel asks Prometheus again once per step (one answer serves every viewer for a
    # step, 10 s here, plus the 5 s refresh): a restart delay well past that, so
    # the page surely sees it down.
    with start_run(tmp_path, "run", "--history-days", "0.05", "--restart-delay", "30") as run:
        out = run.log_path.read_text()
        dashboard = url_of(out, "Dashboard")
        dash_duo.driver.get(dashboard + "/?tab=metrics")
        panel = "request-rate"
        until(lambda: (f := figure(dash_duo, panel)) and f["traces"], timeout=60)
        # Only notes (the demo's always-firing ErrorBudgetBurn), no badge or error.
        assert healthy(notice_text(dash_duo, panel))

        killed = main_prometheus(tmp_path)
        assert killed is not None
        killed.send_signal(signal.SIGKILL)
        badge = until(lambda: "stale since" in (t := notice_text(dash_duo, panel)) and t,
                      timeout=40)
        assert "Prometheus unreachable" in badge
        assert figure(dash_duo, panel)["traces"]  # the last good data stays drawn
        dash_duo.driver.save_screenshot(str(screens / "demo-prometheus-down.png"))
        assert run.alive()  # stack.run and the dashboard stay up

        until(lambda: (p := main_prometheus(tmp_path)) and p.pid != killed.pid, timeout=60)
        until(lambda: healthy(notice_text(dash_duo, panel)), timeout=60)
        assert figure(dash_duo, panel)["traces"]
        assert "prometheus restarted on port" in run.log_path.read_text()
    assert dash_duo.get_logs() == []

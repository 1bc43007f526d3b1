"""Every component id shared by a layout and a callback, in one place.

A renamed id breaks at import, not silently in the browser.
"""

# app shell
URL = "url"
TABS = "tabs"
TAB_STATUS = "tab-status"
TAB_METRICS = "tab-metrics"
TAB_LOGS = "tab-logs"

# Status tab
STATUS_INTERVAL = "status-interval"
STATUS_PAUSE = "status-pause"
STATUS_REFRESH = "status-refresh"
STATUS_SUMMARY = "status-summary"
STATUS_CHECKED = "status-checked"
STATUS_CARDS = "status-cards"
STATUS_ERROR = "status-error"
#: filled by the Metrics tab's callbacks: scrape targets and alerts from Prometheus
STATUS_PROM_SECTION = "status-prom-section"

"""Every component id shared by a layout and a callback, in one place.

A renamed id breaks at import, not silently in the browser.
"""

# app shell
URL = "url"
TABS = "tabs"
#: the tabs' values, also their names in the URL (?tab=…)
TAB_VALUES = ("status", "metrics", "logs")

# Status tab
STATUS_INTERVAL = "status-interval"
STATUS_PAUSE = "status-pause"
STATUS_REFRESH = "status-refresh"
STATUS_SUMMARY = "status-summary"
STATUS_CHECKED = "status-checked"
STATUS_CARDS = "status-cards"
#: pattern-matching type of one service's card: {"type": STATUS_CARD, "name": <service>}
STATUS_CARD = "status-card"
STATUS_ERROR = "status-error"
#: pattern-matching type of a card's "24 h" toggle: {"type": STATUS_EXPAND, "name": <service>}
STATUS_EXPAND = "status-expand"
#: names of the services whose card shows its last 24 h (a store)
STATUS_EXPANDED = "status-expanded"
STATUS_INCIDENTS = "status-incidents"
STATUS_INCIDENTS_CSV = "status-incidents-csv"
STATUS_INCIDENTS_DOWNLOAD = "status-incidents-download"
#: the Status tab's Prometheus section: scrape targets and alerts
STATUS_PROM_SECTION = "status-prom-section"
#: its parts, each drawn again only when what it shows changed: the targets card, and in
#: the alerts card its header counts, the sources' notices and the list with the silences
STATUS_PROM_TARGETS = "status-prom-targets"
STATUS_PROM_ALERT_SUMMARY = "status-prom-alert-summary"
STATUS_PROM_ALERT_NOTICES = "status-prom-alert-notices"
STATUS_PROM_ALERTS = "status-prom-alerts"

# Logs tab
LOGS_PRESET = "logs-preset"
LOGS_REQUEST_ID = "logs-request-id"
LOGS_QUERY = "logs-query"
LOGS_QUERY_ERROR = "logs-query-error"
LOGS_LABEL_NAME = "logs-label-name"
LOGS_LABEL_VALUES = "logs-label-values"
#: pattern-matching type of the clickable label values: {"type": …, "name": …, "value": …}
LOGS_LABEL_VALUE = "logs-label-value"
LOGS_LIMIT = "logs-limit"
#: why the typed limit cannot run, beside the box
LOGS_LIMIT_ERROR = "logs-limit-error"
LOGS_DIRECTION = "logs-direction"
LOGS_RUN = "logs-run"
LOGS_REQUEST = "logs-request"
LOGS_NOTICE = "logs-notice"
LOGS_VOLUME = "logs-volume"
LOGS_VOLUME_NOTE = "logs-volume-note"
LOGS_COUNT = "logs-count"
LOGS_SHOWN = "logs-shown"
LOGS_TOTAL = "logs-total"
LOGS_SEARCH = "logs-search"
LOGS_COLUMNS = "logs-columns"
LOGS_AVAILABLE = "logs-available"
#: the extra columns whose values are numbers (sorted and filtered as numbers)
LOGS_NUMERIC = "logs-numeric"
LOGS_GRID = "logs-grid"
#: the selected row's labels, fields, JSON and context lines, under the grid
LOGS_DETAILS = "logs-details"
#: pattern-matching type of a details field's filter button:
#: {"type": …, "kind": "stream" | "json" | "label", "name": …, "value": …}
LOGS_FIELD_FILTER = "logs-field-filter"
LOGS_EXPORT = "logs-export"
LOGS_EXPORT_CANCEL = "logs-export-cancel"
LOGS_EXPORT_PROGRESS = "logs-export-progress"
LOGS_EXPORT_STATUS = "logs-export-status"
#: "12,345 rows · 6,789/s" beside the progress bar (outside it: a narrow bar cuts text)
LOGS_EXPORT_RATE = "logs-export-rate"
#: the running export's file name, so Cancel can remove what it left
LOGS_EXPORT_FILE = "logs-export-file"
#: "queued (N ahead)" / "running" while an export waits for or holds a slot
LOGS_EXPORT_QUEUE = "logs-export-queue"
LOGS_DOWNLOAD = "logs-download"

# Range picker (shared: Metrics and Logs each get their own instance, ids built from a prefix)


def range_id(prefix: str, part: str) -> str:
    """The id of one range-picker piece for the tab ``prefix`` ("metrics", "logs")."""
    return f"{prefix}-range-{part}"


#: the parts every range picker has; use ``range_id(prefix, RANGE_STATE)`` and so on
RANGE_STATE = "state"  # dcc.Store {"from", "to", "preset", "back": [[from, to], …]}
RANGE_ZOOM = "zoom"  # dcc.Store the tab's charts write {"from", "to"} or {"reset": true} into
RANGE_PRESETS = "presets"
RANGE_DATES = "dates"  # the calendar: picking days fills the From / To boxes
RANGE_FROM = "from"  # From box: "now-6h", "now-7d/d", "2024-05-01 10:00" (the picker's zone)
RANGE_TO = "to"
RANGE_REFRESH = "refresh"  # live refresh interval, seconds (choices from query.range_state)
RANGE_APPLY = "apply"
RANGE_BACK = "back"
RANGE_LIVE = "live"
RANGE_INTERVAL = "interval"
RANGE_LABEL = "label"
RANGE_ERROR = "error"
#: only in a picker built with zones=True (Metrics): the choice, "utc" or "browser", and
#: {"zone": the IANA name the choice means ("UTC", "Europe/Paris"), "browser": the browser's
#: own zone}, set in the browser
RANGE_ZONE = "zone"
RANGE_ZONE_NAME = "zone-name"

# Metrics tab
METRICS_WIDTH = "metrics-width"
METRICS_JOB = "metrics-job"
METRICS_INSTANCE = "metrics-instance"
METRICS_QUERY = "metrics-query"
METRICS_QUERY_SUGGEST = "metrics-query-suggest"
METRICS_QUERY_RUN = "metrics-query-run"
METRICS_QUERY_STORE = "metrics-query-store"
METRICS_QUERY_RECENT = "metrics-query-recent"  # the last queries run (browser local storage)
METRICS_ADHOC = "metrics-adhoc"
METRICS_PANELS = "metrics-panels"
METRICS_PANELS_NOTICE = "metrics-panels-notice"
#: pattern-matching types; the "panel" key is the panel's slug ("adhoc" for the ad-hoc query)
METRICS_PANEL = "metrics-panel"
METRICS_GRAPH = "metrics-graph"
METRICS_NOTICE = "metrics-notice"
METRICS_HELD = "metrics-held"
METRICS_CSV = "metrics-csv"
METRICS_DOWNLOAD = "metrics-download"

# Actions (remediation webhooks on the Status cards; layouts/actions.py, callbacks/actions.py)
#: pattern-matching type of a card's action button: {"type": …, "action": …, "service": …}
ACTION_RUN = "action-run"
#: {"action", "service", "at"} of the button last clicked (written in the browser)
ACTION_PENDING = "action-pending"
ACTION_MODAL = "action-modal"
ACTION_PROMPT = "action-prompt"
ACTION_RESULT = "action-result"
ACTION_CONFIRM = "action-confirm"
ACTION_CANCEL = "action-cancel"
# --- navbar: who is signed in, and the admins' audit log (access.py, login.py) ---
NAV_USER = "nav-user"
NAV_CONFIG = "nav-config"
AUDIT_OPEN = "audit-open"
AUDIT_MODAL = "audit-modal"
AUDIT_BODY = "audit-body"
# Status tab, alert list and silences (issues 13, 14)
ALERTS_STATE_FILTER = "alerts-state-filter"
ALERTS_SEVERITY_FILTER = "alerts-severity-filter"
ALERTS_LABEL_FILTER = "alerts-label-filter"
ALERTS_HISTORY_WINDOW = "alerts-history-window"
ALERTS_HISTORY = "alerts-history"
#: bumped after a silence is created or expired: the list is drawn again at once
ALERTS_CHANGED = "alerts-changed"
ALERTS_FEEDBACK = "alerts-feedback"
#: pattern-matching types: {"type": SILENCE_OPEN, "key": <alert fingerprint>},
#: {"type": SILENCE_EXPIRE, "id": <silence id>}
SILENCE_OPEN = "silence-open"
SILENCE_EXPIRE = "silence-expire"
#: the id of the Silence / Expire button really pressed, plus "at" (set in the browser: the
#: list is redrawn every refresh, see assets/clicks.js)
SILENCE_ASKED = "silence-asked"
SILENCE_EXPIRE_ASKED = "silence-expire-asked"
SILENCE_MODAL = "silence-modal"
SILENCE_KEY = "silence-key"
SILENCE_MATCHERS = "silence-matchers"
SILENCE_DURATION = "silence-duration"
SILENCE_CUSTOM = "silence-custom"
SILENCE_COMMENT = "silence-comment"
SILENCE_CREATE = "silence-create"
SILENCE_CANCEL = "silence-cancel"
SILENCE_ERROR = "silence-error"
METRICS_BELOW = "metrics-below"  # under a chart: the anomalies in range
METRICS_ANOMALY = "metrics-anomaly"  # a link in that list: {"panel", "from", "to"} zooms to it
METRICS_INSPECT = "metrics-inspect"  # a panel's Inspect button
METRICS_FULL = "metrics-full"  # a panel's full-screen toggle
# the chart options shared by every panel, and the one Inspect dialog
METRICS_COMPARE = "metrics-compare"  # query.compare.MODES
METRICS_ANNOTATE = "metrics-annotate"  # the annotation sources shown
METRICS_LEGEND = "metrics-legend"  # "list" (plotly's legend) or "table" (min/max/mean/last)
METRICS_INSPECT_MODAL = "metrics-inspect-modal"
METRICS_INSPECT_TITLE = "metrics-inspect-title"
METRICS_INSPECT_BODY = "metrics-inspect-body"

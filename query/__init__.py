"""Pure logic of the dashboard: no Dash, no I/O, no datasources.

Time ranges and steps (``timerange``), the picker's range/URL state (``range_state``), PromQL
and LogQL text (``promql``, ``logql``, ``promql_suggest``), the ``[[panels]]`` and
``[[log_queries]]`` catalogues (``panels``, ``log_queries``), log levels (``levels``), what a
frame becomes on a chart or in the log table (``chart``, ``log_view``) and spreadsheet-safe CSV
cells (``csv_safe``). Everything here is a function of its arguments, tested without servers.
"""

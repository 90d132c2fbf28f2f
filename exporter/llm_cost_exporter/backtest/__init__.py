"""Backtests: replay a workload through the exporter and evaluate the alert rules over it."""

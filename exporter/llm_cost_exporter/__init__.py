"""Prometheus exporter that turns LLM gateway logs and vendor usage APIs into cost metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-cost-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

"""Exposition: the Prometheus collector over aggregator snapshots and the HTTP server."""

from .collector import CostCollector, SourceStatus

__all__ = ["CostCollector", "SourceStatus"]

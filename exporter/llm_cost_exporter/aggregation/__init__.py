"""Aggregation: CallEvents to cumulative counters, histograms and gauges."""

from .aggregator import Aggregator
from .snapshot import Snapshot, SnapshotBuilder
from .state_codec import export_state, export_windows, restore_state

__all__ = ["Aggregator", "Snapshot", "SnapshotBuilder", "export_state", "export_windows", "restore_state"]

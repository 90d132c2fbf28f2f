"""The durable store: source positions and aggregator state, checkpointed together."""

from .store import StateStore

__all__ = ["StateStore"]

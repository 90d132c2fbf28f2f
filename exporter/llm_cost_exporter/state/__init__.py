"""The durable store: source positions and aggregator state, checkpointed together."""

from .store import StateError, StateStore

__all__ = ["StateError", "StateStore"]

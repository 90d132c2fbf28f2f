"""Sources: where raw records come from. Each yields complete records and checkpointable positions."""

from .file import FileSource

__all__ = ["FileSource"]

"""Sources: where raw records come from. Each yields complete records and checkpointable positions."""

from .base import RecordSource
from .file import FileSource
from .registry import SOURCE_FACTORIES

__all__ = ["SOURCE_FACTORIES", "FileSource", "RecordSource"]

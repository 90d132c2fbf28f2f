"""Format parsers: one raw record (a log line) in, zero or more CallEvents out."""

from .base import REJECT_REASONS, Parser, RecordRejected, extract_path
from .registry import FORMATS, make_parser

__all__ = ["FORMATS", "REJECT_REASONS", "Parser", "RecordRejected", "extract_path", "make_parser"]

"""Cutting a byte stream into records at newlines, for sources that read files and objects."""

from __future__ import annotations

from typing import Protocol


class LineCursor(Protocol):
    """A position in a stream: `offset` is the first byte not yet returned as part of a record."""

    offset: int
    skipping: bool  # inside a line longer than the limit, discarding it up to its newline


def split_lines(cursor: LineCursor, data: bytes, lines: list[bytes], max_line_bytes: int, final: bool) -> None:
    """Append the complete lines of `data`, read at `cursor.offset`, and advance the offset past them.

    Blank lines are dropped. A line longer than `max_line_bytes` is appended cut to
    `max_line_bytes + 1` bytes (so the ingestor rejects it as oversized) and the rest of it is
    skipped. With `final`, `data` ends the stream and a last line without a newline is a record.
    """
    start = 0
    if cursor.skipping:
        newline = data.find(b"\n")
        if newline < 0:
            cursor.offset += len(data)
            return
        start = newline + 1
        cursor.skipping = False
    end = data.rfind(b"\n", start)
    if end >= 0:
        for line in data[start:end].split(b"\n"):
            if line.strip():
                lines.append(line)
        cursor.offset += end + 1
        start = end + 1
    else:
        cursor.offset += start
    tail = data[start:]
    if len(tail) > max_line_bytes:
        lines.append(tail[: max_line_bytes + 1])
        cursor.offset += len(tail)
        cursor.skipping = not final
    elif final and tail.strip():
        lines.append(tail)
        cursor.offset += len(tail)

"""The contract of a record source: raw records out, checkpointable positions, health."""

from __future__ import annotations

from typing import Protocol


class RecordSource(Protocol):
    """A source of raw records (log lines, log events, object lines) for a format parser.

    `poll` returns complete records read since the last call; `positions` returns what a
    checkpoint must store to resume exactly after the last returned record. The constructor
    takes `(config, positions)`, where `positions` is None on the very first start.
    """

    name: str
    up: bool
    last_success: float | None
    errors: dict[str, float]  # error class -> count, for llm_exporter_source_errors_total

    def poll(self, max_bytes: int = ...) -> list[bytes]: ...

    def positions(self) -> dict: ...

    def close(self) -> None: ...

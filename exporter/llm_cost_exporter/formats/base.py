"""The parser contract and the rejection reasons every format shares."""

from __future__ import annotations

from typing import Any, Protocol

from ..events import CallEvent

# Reasons a record is rejected; each is a value of the `reason` label of
# llm_exporter_events_rejected_total.
REJECT_REASONS = (
    "invalid_json",  # not parseable as JSON, or not valid UTF-8
    "not_an_object",  # valid JSON but not an object
    "missing_field",  # a required field is absent or empty
    "invalid_timestamp",  # ts is neither RFC 3339 nor Unix seconds
    "invalid_tokens",  # a token count is negative, fractional or not a number
    "unknown_kind",  # kind is not model, tool or request_end
    "invalid_field",  # a field has the wrong type or an unknown value
    "oversized_line",  # longer than the source's max_line_bytes
)


class RecordRejected(ValueError):
    """A record that cannot become a CallEvent; `reason` is one of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.record: bytes | None = None  # set by parse_batch, for the log line


class Parser(Protocol):
    """Turns one raw record into CallEvents or raises RecordRejected."""

    def parse(self, record: bytes) -> list[CallEvent]: ...


def parse_batch(parse, records: list[bytes], max_record_bytes: int,
                rejected: list[RecordRejected]) -> tuple[list[CallEvent], int]:
    """Parse `records` with `parse`; return the events and the number of records accepted.

    Rejections are appended to `rejected`. A record longer than `max_record_bytes` is
    rejected as oversized without being parsed.
    """
    events: list[CallEvent] = []
    accepted = 0
    for record in records:
        if len(record) > max_record_bytes:
            rejection = RecordRejected("oversized_line", f"{len(record)} bytes, more than the limit of {max_record_bytes}")
            rejection.record = record
            rejected.append(rejection)
            continue
        try:
            events += parse(record)
        except RecordRejected as rejection:
            rejection.record = record
            rejected.append(rejection)
            continue
        accepted += 1
    return events, accepted


def extract_path(record: Any, path: str) -> Any:
    """Return the value at a dotted path (`metadata.tags.feature`), or None where it is absent."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value

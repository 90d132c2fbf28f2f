"""The native gateway log format: one JSON object per line, fields as the design contract names them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

from ..events import (ATTRIBUTION_FIELDS, ERROR_CLASSES, KIND_MODEL, KIND_REQUEST_END, KINDS, CallEvent,
                      attribution_fields)
from .base import RecordRejected, extract_path, parse_batch
from .native_fast import NotFastPath, parse_fast

TOKEN_FIELDS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_ID_FIELDS = ("request_id", "call_id", "retry_of", "tool", "prompt_prefix_hash")


def parse_timestamp(value: Any) -> float:
    """Return Unix seconds from an RFC 3339 string or a number of Unix seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value < 0 or value > 1e11:  # NaN, negative, or milliseconds by mistake
            raise RecordRejected("invalid_timestamp", f"ts {value!r} is not Unix seconds")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise RecordRejected("invalid_timestamp", f"ts {value[:40]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    raise RecordRejected("invalid_timestamp", f"ts has type {type(value).__name__}")


def _invalid_token_count(field: str, value: Any) -> RecordRejected:
    if type(value) is int:
        return RecordRejected("invalid_tokens", f"{field} is negative ({value})")
    return RecordRejected("invalid_tokens", f"{field} is {str(value)[:40]!r}, not a whole number")


def _text(value: Any, field: str) -> str:
    """Coerce an optional scalar field to a string; reject objects and arrays."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordRejected("invalid_field", f"{field} has type {type(value).__name__}, expected a string")


class NativeParser:
    """Parser for the native format. `label_paths` maps attribution names to dotted paths."""

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._label_paths = dict(label_paths or {})
        # Attribution fields read from top-level keys: the standard ones plus any configured label.
        names = [*ATTRIBUTION_FIELDS, *(name for name in attribution if name not in ATTRIBUTION_FIELDS)]
        self._top_level = tuple(name for name in names if name not in self._label_paths)
        # The typed fast path reads only the standard attribution fields at the top level.
        self._fast = not self._label_paths and len(names) == len(ATTRIBUTION_FIELDS)

    def parse_batch(self, records: list[bytes], max_record_bytes: int,
                    rejected: list[RecordRejected]) -> tuple[list[CallEvent], int]:
        """Like formats.base.parse_batch, with the typed fast path called directly."""
        if not self._fast:
            return parse_batch(self.parse, records, max_record_bytes, rejected)
        events: list[CallEvent] = []
        accepted = 0
        for record in records:
            if len(record) <= max_record_bytes:
                try:
                    events.append(parse_fast(record))
                    accepted += 1
                    continue
                except NotFastPath:
                    pass
            batch, count = parse_batch(self.parse, [record], max_record_bytes, rejected)
            events += batch
            accepted += count
        return events, accepted

    def parse(self, record: bytes) -> list[CallEvent]:
        if self._fast:
            try:
                return [parse_fast(record)]
            except NotFastPath:
                pass
        try:
            data = orjson.loads(record)
        except orjson.JSONDecodeError as err:
            raise RecordRejected("invalid_json", f"{err.msg} at byte {err.pos} of the record") from None
        if not isinstance(data, dict):
            raise RecordRejected("not_an_object", f"top-level value is a {type(data).__name__}")
        return [self.event_from_dict(data)]

    def event_from_dict(self, data: dict[str, Any]) -> CallEvent:
        """Validate one decoded record and build its CallEvent.

        This is the hot path of ingestion: the common case (strings where strings belong,
        whole numbers for tokens) is checked inline, and the helpers run only for the rest.
        """
        get = data.get
        kind = get("kind")
        ts = get("ts")
        if kind is None or ts is None:
            raise RecordRejected("missing_field", "ts and kind are required")
        if type(kind) is not str or kind not in KINDS:
            raise RecordRejected("unknown_kind", f"kind {str(kind)[:40]!r} is not model, tool or request_end")
        ts = parse_timestamp(ts)
        if kind == KIND_REQUEST_END:
            # A request end only closes its request: nothing else of it is read.
            return CallEvent(ts, kind, _text(get("request_id"), "request_id"))

        provider = get("provider") or ""
        model = get("model") or ""
        if type(provider) is not str or type(model) is not str:
            provider, model = _text(provider, "provider"), _text(model, "model")
        if kind == KIND_MODEL and not (provider and model):
            raise RecordRejected("missing_field", "a model call needs provider and model")

        tokens = [get(field, 0) for field in TOKEN_FIELDS]
        for index, value in enumerate(tokens):
            if type(value) is not int or value < 0:
                if value is not None:
                    raise _invalid_token_count(TOKEN_FIELDS[index], value)
                tokens[index] = 0
        if tokens[3] > tokens[2]:
            raise RecordRejected("invalid_tokens", "cache_write_1h_tokens exceeds cache_write_tokens")
        if tokens[5] > tokens[4]:
            raise RecordRejected("invalid_tokens", "reasoning_tokens exceeds output_tokens")

        status = get("status") or "ok"
        error_class = get("error_class") or ""
        if status != "ok":
            if status != "error":
                raise RecordRejected("invalid_field", f"status {str(status)[:40]!r} is not ok or error")
            error_class = error_class or "other"
        if error_class and (type(error_class) is not str or error_class not in ERROR_CLASSES):
            raise RecordRejected("invalid_field", f"error_class {str(error_class)[:40]!r} is not a known class")

        attempt = get("attempt", 1)
        if attempt is None:
            attempt = 1
        elif type(attempt) is not int or attempt < 1:
            raise RecordRejected("invalid_field", f"attempt {attempt!r} is not a whole number >= 1")
        cost = get("cost_usd")
        if cost is not None:
            if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost < 0:
                raise RecordRejected("invalid_field", f"cost_usd {cost!r} is not a non-negative number")
            cost = float(cost)

        ids = [get(field) or "" for field in _ID_FIELDS]
        for field, value in zip(_ID_FIELDS, ids):
            if type(value) is not str:
                ids = [_text(get(name), name) for name in _ID_FIELDS]
                break

        return CallEvent(ts, kind, ids[0], ids[1], ids[2], provider, model, *tokens, status, error_class,
                         attempt, ids[3], ids[4], cost, **attribution_fields(self._attributes(data)))

    def _attributes(self, data: dict[str, Any]) -> dict[str, str]:
        get = data.get
        attributes = {name: get(name) or "" for name in self._top_level}
        for name, value in attributes.items():
            if type(value) is not str:
                attributes[name] = _text(value, name)
        for label, path in self._label_paths.items():
            value = extract_path(data, path)
            if value is None:
                attributes[label] = ""
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                attributes[label] = str(value)
            else:
                raise RecordRejected("invalid_field", f"{path} (label {label}) is not a string")
        return attributes

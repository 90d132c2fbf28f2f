"""The native gateway log format: one JSON object per line, fields as the design contract names them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import orjson

from ..events import ATTRIBUTION_FIELDS, ERROR_CLASSES, KIND_MODEL, KINDS, CallEvent
from .base import RecordRejected, extract_path

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


def _token_count(record: dict[str, Any], field: str) -> int:
    value = record.get(field, 0)
    if value is None:
        return 0
    if type(value) is not int:
        raise RecordRejected("invalid_tokens", f"{field} is {value!r}, not a whole number")
    if value < 0:
        raise RecordRejected("invalid_tokens", f"{field} is negative ({value})")
    return value


def _text(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
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

    def parse(self, record: bytes) -> list[CallEvent]:
        try:
            data = orjson.loads(record)
        except orjson.JSONDecodeError as err:
            raise RecordRejected("invalid_json", str(err)) from None
        if not isinstance(data, dict):
            raise RecordRejected("not_an_object", f"top-level value is a {type(data).__name__}")
        return [self.event_from_dict(data)]

    def event_from_dict(self, data: dict[str, Any]) -> CallEvent:
        """Validate one decoded record and build its CallEvent."""
        kind = data.get("kind")
        if kind is None or "ts" not in data:
            raise RecordRejected("missing_field", "ts and kind are required")
        if kind not in KINDS:
            raise RecordRejected("unknown_kind", f"kind {str(kind)[:40]!r} is not model, tool or request_end")
        ts = parse_timestamp(data["ts"])

        provider = _text(data, "provider")
        model = _text(data, "model")
        if kind == KIND_MODEL and not (provider and model):
            raise RecordRejected("missing_field", "a model call needs provider and model")

        tokens = [_token_count(data, field) for field in TOKEN_FIELDS]
        if tokens[3] > tokens[2]:
            raise RecordRejected("invalid_tokens", "cache_write_1h_tokens exceeds cache_write_tokens")
        if tokens[5] > tokens[4]:
            raise RecordRejected("invalid_tokens", "reasoning_tokens exceeds output_tokens")

        status = data.get("status") or "ok"
        if status not in ("ok", "error"):
            raise RecordRejected("invalid_field", f"status {str(status)[:40]!r} is not ok or error")
        error_class = data.get("error_class") or ""
        if error_class and error_class not in ERROR_CLASSES:
            raise RecordRejected("invalid_field", f"error_class {str(error_class)[:40]!r} is not a known class")
        if status == "error" and not error_class:
            error_class = "other"

        attempt = data.get("attempt", 1)
        if attempt is None:
            attempt = 1
        if type(attempt) is not int or attempt < 1:
            raise RecordRejected("invalid_field", f"attempt {attempt!r} is not a whole number >= 1")

        cost = data.get("cost_usd")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost < 0):
            raise RecordRejected("invalid_field", f"cost_usd {cost!r} is not a non-negative number")

        return CallEvent(
            ts=ts,
            kind=kind,
            request_id=_text(data, "request_id"),
            call_id=_text(data, "call_id"),
            retry_of=_text(data, "retry_of"),
            provider=provider,
            model=model,
            input_tokens=tokens[0],
            cache_read_tokens=tokens[1],
            cache_write_tokens=tokens[2],
            cache_write_1h_tokens=tokens[3],
            output_tokens=tokens[4],
            reasoning_tokens=tokens[5],
            status=status,
            error_class=error_class,
            attempt=attempt,
            tool=_text(data, "tool"),
            prompt_prefix_hash=_text(data, "prompt_prefix_hash"),
            cost_usd=None if cost is None else float(cost),
            attributes=self._attributes(data),
        )

    def _attributes(self, data: dict[str, Any]) -> dict[str, str]:
        attributes = {name: _text(data, name) for name in self._top_level}
        for label, path in self._label_paths.items():
            value = extract_path(data, path)
            if value is None:
                attributes[label] = ""
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                attributes[label] = str(value)
            else:
                raise RecordRejected("invalid_field", f"{path} (label {label}) is not a string")
        return attributes

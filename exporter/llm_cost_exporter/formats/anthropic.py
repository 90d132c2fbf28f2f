"""Anthropic Messages responses, bare or inside a gateway envelope.

A record is the Messages response body (`type: message`) with the gateway's `ts` added, or a
gateway envelope holding the body under `response` or `body`. The Messages API returns no
timestamp, so `ts` is required. An error body (`type: error`), an envelope `error` object or a
`status_code` of 400 or more is a failed call.

Token semantics: `input_tokens` excludes cache reads and writes, which come separately as
`cache_read_input_tokens` and `cache_creation_input_tokens`; `cache_creation` splits the writes
into five-minute and one-hour cache writes. Thinking tokens are part of `output_tokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import KIND_MODEL, CallEvent
from .base import RecordRejected
from .common import (
    LabelMapper,
    decode_object,
    envelope_fields,
    error_class_for_status,
    find_response,
    guarded,
    text_value,
    tokens_at,
)
from .native import parse_timestamp

_ERROR_TYPES = {
    "rate_limit_error": "rate_limit",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "timeout_error": "timeout",
    "invalid_request_error": "client_error",
    "authentication_error": "client_error",
    "permission_error": "client_error",
    "not_found_error": "client_error",
    "request_too_large": "client_error",
    "billing_error": "client_error",
}


def default_label_paths(name: str) -> tuple[str, ...]:
    if name == "user_id":
        return ("user_id", "metadata.user_id", "request.metadata.user_id")
    return (name, f"metadata.{name}")


class AnthropicParser:
    """Parser for Anthropic Messages responses; `label_paths` maps attribution names to dotted paths."""

    provider = "anthropic"

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._labels = LabelMapper(attribution, label_paths, default_label_paths)

    @guarded
    def parse(self, record: bytes) -> list[CallEvent]:
        data = decode_object(record)
        response = find_response(data)
        failed, error_class = _failure(data, response)
        usage = response.get("usage")
        if usage is None and not failed:
            raise RecordRejected("missing_field", "no usage object")
        if usage is not None and not isinstance(usage, dict):
            raise RecordRejected("invalid_field", f"usage is a {type(usage).__name__}, expected an object")
        usage = usage or {}
        if "ts" not in data:
            raise RecordRejected("missing_field", "ts is required: the Messages API returns no timestamp")
        ts = parse_timestamp(data["ts"])
        model = text_value(response.get("model")) or text_value(data.get("model"))
        if not model:
            raise RecordRejected("missing_field", "model is missing")

        write_5m = tokens_at(usage, "cache_creation.ephemeral_5m_input_tokens")
        write_1h = tokens_at(usage, "cache_creation.ephemeral_1h_input_tokens")
        if usage.get("cache_creation_input_tokens") is not None:
            cache_write = tokens_at(usage, "cache_creation_input_tokens")
        else:
            cache_write = write_5m + write_1h
        if write_1h > cache_write:
            raise RecordRejected("invalid_tokens", "cache_creation.ephemeral_1h_input_tokens exceeds "
                                                   "cache_creation_input_tokens")
        output = tokens_at(usage, "output_tokens")
        thinking = tokens_at(usage, "output_tokens_details.thinking_tokens")

        return [CallEvent(
            ts=ts,
            kind=KIND_MODEL,
            model=model,
            input_tokens=tokens_at(usage, "input_tokens"),
            cache_read_tokens=tokens_at(usage, "cache_read_input_tokens"),
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=write_1h,
            output_tokens=output,
            reasoning_tokens=min(thinking, output),
            status="error" if failed else "ok",
            error_class=error_class,
            **self._labels.fields(data),
            **envelope_fields(data, response, self.provider),
        )]


def _failure(data: dict[str, Any], response: dict[str, Any]) -> tuple[bool, str]:
    """Return whether the call failed and its error class."""
    status_code = data.get("status_code")
    error = response.get("error") if response.get("type") == "error" else data.get("error")
    if isinstance(status_code, int) and not isinstance(status_code, bool) and status_code >= 400:
        if isinstance(error, dict) and error.get("type") in _ERROR_TYPES:
            return True, _ERROR_TYPES[error["type"]]
        return True, error_class_for_status(status_code)
    if response.get("type") == "error" and error is None:
        return True, "other"
    if error is None or error is False:
        return False, ""
    if isinstance(error, dict):
        return True, _ERROR_TYPES.get(error.get("type"), "other") if isinstance(error.get("type"), str) else "other"
    return True, "other"

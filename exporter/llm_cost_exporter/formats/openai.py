"""OpenAI Chat Completions and Responses bodies, bare or inside a gateway envelope.

A record is either the response body itself (`object: chat.completion`, `chat.completion.chunk`
with usage, or `response`) or a gateway envelope that contains it under `response` or `body` next
to the gateway's own fields (`ts`, `request_id`, `attempt`, `metadata`, ...). An envelope with
an `error` object or a `status_code` of 400 or more is a failed call.

Token semantics: `prompt_tokens` (Chat Completions) and `input_tokens` (Responses) include the
cached tokens (`*_tokens_details.cached_tokens`) and, where reported, the cache writes
(`cache_write_tokens`), so both are subtracted to get the uncached input. Reasoning tokens are
part of the output tokens.
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
    split_input,
    text_value,
    tokens_at,
)
from .native import parse_timestamp

_ERROR_TYPES = {
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "server_error": "server_error",
    "timeout": "timeout",
    "content_filter": "content_filter",
    "invalid_request_error": "client_error",
}


def default_label_paths(name: str) -> tuple[str, ...]:
    if name == "user_id":
        return ("user_id", "metadata.user_id", "response.user", "response.safety_identifier", "user")
    return (name, f"metadata.{name}", f"response.metadata.{name}")


class OpenAIParser:
    """Parser for OpenAI response bodies; `label_paths` maps attribution names to dotted paths."""

    provider = "openai"

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._labels = LabelMapper(attribution, label_paths, default_label_paths)

    @guarded
    def parse(self, record: bytes) -> list[CallEvent]:
        data = decode_object(record)
        response = find_response(data)
        usage = response.get("usage")
        failed, error_class = _failure(data, response)
        if usage is None and not failed:
            raise RecordRejected("missing_field", "no usage object (a streamed chunk without usage?)")
        if usage is not None and not isinstance(usage, dict):
            raise RecordRejected("invalid_field", f"usage is a {type(usage).__name__}, expected an object")
        usage = usage or {}

        if "ts" in data:
            ts = parse_timestamp(data["ts"])
        elif "created_at" in response or "created" in response:
            ts = parse_timestamp(response.get("created_at", response.get("created")))
        else:
            raise RecordRejected("missing_field", "no ts in the envelope and no created or created_at")
        model = text_value(response.get("model")) or text_value(data.get("model"))
        if not model:
            raise RecordRejected("missing_field", "model is missing")

        if "input_tokens" in usage or "output_tokens" in usage:  # Responses API
            total_input = tokens_at(usage, "input_tokens")
            details = "input_tokens_details"
            output = tokens_at(usage, "output_tokens")
            reasoning = tokens_at(usage, "output_tokens_details.reasoning_tokens")
        else:  # Chat Completions
            total_input = tokens_at(usage, "prompt_tokens")
            details = "prompt_tokens_details"
            output = tokens_at(usage, "completion_tokens")
            reasoning = tokens_at(usage, "completion_tokens_details.reasoning_tokens")
        input_tokens, cache_read, cache_write = split_input(
            total_input, tokens_at(usage, f"{details}.cached_tokens"), tokens_at(usage, f"{details}.cache_write_tokens"))

        return [CallEvent(
            ts=ts,
            kind=KIND_MODEL,
            model=model,
            input_tokens=input_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=output,
            reasoning_tokens=min(reasoning, output),
            status="error" if failed else "ok",
            error_class=error_class,
            **self._labels.fields(data),
            **envelope_fields(data, response, self.provider),
        )]


def _failure(data: dict[str, Any], response: dict[str, Any]) -> tuple[bool, str]:
    """Return whether the call failed and its error class."""
    status_code = data.get("status_code")
    error = data.get("error") or (response.get("error") if response is not data else None)
    if response.get("status") == "failed" and not error:
        error = {}
    if isinstance(status_code, int) and not isinstance(status_code, bool) and status_code >= 400:
        return True, error_class_for_status(status_code)
    if error is None or error is False:
        return False, ""
    if isinstance(error, dict):
        code = error.get("type") or error.get("code")
        return True, _ERROR_TYPES.get(code, "other") if isinstance(code, str) else "other"
    return True, "other"

"""LiteLLM's StandardLoggingPayload, one object per line, as its logging callbacks write it.

Fields used: `startTime` (Unix seconds), `id` (the call), `trace_id` (groups retries and
fallbacks into one request), `custom_llm_provider`, `model`, `status` (success or failure),
`error_information`, `response_cost` (USD, LiteLLM's own price), `prompt_tokens` and
`completion_tokens`. `metadata` contains the virtual key, team and user of the call, and the raw
provider usage in `metadata.usage_object`.

Token semantics: `prompt_tokens` includes cache reads and writes, as OpenAI counts them, also for
Anthropic and Bedrock models; the cached parts come from the usage object
(`cache_read_input_tokens` or `prompt_tokens_details.cached_tokens`, and
`cache_creation_input_tokens`). A response served from LiteLLM's own response cache
(`cache_hit: true`) reached no provider and bills nothing, so it yields no event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import KIND_MODEL, CallEvent
from .base import RecordRejected, extract_path
from .common import (
    PROVIDER_ALIASES,
    LabelMapper,
    decode_object,
    error_class_for_status,
    guarded,
    optional_number,
    split_input,
    text_value,
    token_count,
)
from .native import parse_timestamp

# LiteLLM raises OpenAI-style exception classes; `error_information.error_class` names them.
_ERROR_CLASSES = {
    "RateLimitError": "rate_limit",
    "Timeout": "timeout",
    "APITimeoutError": "timeout",
    "InternalServerError": "server_error",
    "ServiceUnavailableError": "server_error",
    "APIConnectionError": "server_error",
    "APIError": "server_error",
    "BadGatewayError": "server_error",
    "BadRequestError": "client_error",
    "AuthenticationError": "client_error",
    "PermissionDeniedError": "client_error",
    "NotFoundError": "client_error",
    "UnprocessableEntityError": "client_error",
    "ContextWindowExceededError": "client_error",
    "ContentPolicyViolationError": "content_filter",
}

_DEFAULT_PATHS = {
    "user_id": ("metadata.user_api_key_end_user_id", "end_user", "metadata.user_api_key_user_id"),
    "api_key_id": ("metadata.user_api_key_alias", "metadata.user_api_key_hash"),
    "cost_center": ("metadata.spend_logs_metadata.cost_center", "metadata.requester_metadata.cost_center",
                    "metadata.user_api_key_team_alias", "metadata.user_api_key_team_id"),
}


def default_label_paths(name: str) -> tuple[str, ...]:
    """Attribution lives in the request's spend-logs or requester metadata, or in the key's metadata."""
    return _DEFAULT_PATHS.get(name, (f"metadata.spend_logs_metadata.{name}", f"metadata.requester_metadata.{name}",
                                     name))


class LiteLLMParser:
    """Parser for LiteLLM's standard logging payload; `label_paths` maps attribution names to dotted paths."""

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._labels = LabelMapper(attribution, label_paths, default_label_paths)

    @guarded
    def parse(self, record: bytes) -> list[CallEvent]:
        data = decode_object(record)
        if data.get("cache_hit") is True:
            return []
        for field in ("startTime", "model"):
            if data.get(field) in (None, ""):
                raise RecordRejected("missing_field", f"{field} is missing")
        ts = parse_timestamp(data["startTime"])
        provider = text_value(data.get("custom_llm_provider"))
        provider = PROVIDER_ALIASES.get(provider, provider) or "unknown"

        status = data.get("status", "success")
        if status not in ("success", "failure"):
            raise RecordRejected("invalid_field", f"status {str(status)[:40]!r} is not success or failure")
        failed = status == "failure"
        error_class = _error_class(data) if failed else ""

        usage = extract_path(data, "metadata.usage_object")
        usage = usage if isinstance(usage, dict) else {}
        total_input = token_count(data.get("prompt_tokens"), "prompt_tokens")
        cache_read = token_count(usage.get("cache_read_input_tokens"), "cache_read_input_tokens")
        if not cache_read:
            cache_read = token_count(extract_path(usage, "prompt_tokens_details.cached_tokens"), "cached_tokens")
        cache_write = token_count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens")
        input_tokens, cache_read, cache_write = split_input(total_input, cache_read, cache_write)
        output = token_count(data.get("completion_tokens"), "completion_tokens")
        reasoning = token_count(extract_path(usage, "completion_tokens_details.reasoning_tokens"), "reasoning_tokens")

        return [CallEvent(
            ts=ts,
            kind=KIND_MODEL,
            request_id=text_value(data.get("trace_id")),
            call_id=text_value(data.get("id")),
            provider=provider,
            model=text_value(data.get("model")),
            input_tokens=input_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=output,
            reasoning_tokens=min(reasoning, output),
            status="error" if failed else "ok",
            error_class=error_class,
            cost_usd=optional_number(data.get("response_cost"), "response_cost"),
            **self._labels.fields(data),
        )]


def _error_class(data: dict[str, Any]) -> str:
    info = data.get("error_information")
    if not isinstance(info, dict):
        return "other"
    named = _ERROR_CLASSES.get(text_value(info.get("error_class")))
    if named:
        return named
    code = text_value(info.get("error_code"))
    if code.isdigit():
        return error_class_for_status(int(code))
    return "other"

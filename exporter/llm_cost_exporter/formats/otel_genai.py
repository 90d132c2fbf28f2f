"""OpenTelemetry GenAI spans in OTLP JSON, one export request per line.

This is what the OpenTelemetry Collector's file exporter writes: each line contains
`resourceSpans[].scopeSpans[].spans[]`, and every span whose `gen_ai.operation.name` is a model
operation (chat, text_completion, generate_content, embeddings) becomes a model call, and every
`execute_tool` span a tool call. Agent and workflow spans (invoke_agent, create_agent,
invoke_workflow) are skipped, because instrumentations may sum their children's usage on them.

Token semantics (GenAI semantic conventions): `gen_ai.usage.input_tokens` includes the cache
reads (`gen_ai.usage.cache_read.input_tokens`) and writes
(`gen_ai.usage.cache_creation.input_tokens`), and `gen_ai.usage.output_tokens` includes the
reasoning tokens (`gen_ai.usage.reasoning.output_tokens`).

Attribution paths name a span field, `attributes.<key>` or `resource.<key>`, where the key is
the attribute key as written, dots included (`attributes.app.feature`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..events import KIND_MODEL, KIND_TOOL, CallEvent
from .base import RecordRejected
from .common import PROVIDER_ALIASES, LabelMapper, decode_object, guarded, split_input, text_value, token_count

MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
TOOL_OPERATION = "execute_tool"
_STATUS_ERROR = 2  # STATUS_CODE_ERROR in OTLP

_ERROR_TYPES = {
    "timeout": "timeout",
    "TimeoutError": "timeout",
    "rate_limit_exceeded": "rate_limit",
    "RateLimitError": "rate_limit",
    "429": "rate_limit",
    "content_filter": "content_filter",
}


def default_label_paths(name: str) -> tuple[str, ...]:
    if name == "user_id":
        return ("attributes.user.id", "attributes.enduser.id", "attributes.user_id")
    return (f"attributes.{name}", f"attributes.app.{name}", f"resource.{name}", f"resource.app.{name}")


def attribute_value(value: Any) -> Any:
    """Unwrap an OTLP JSON AnyValue (`{"stringValue": "chat"}`) into a Python value."""
    if not isinstance(value, dict):
        return None
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    return None


def attribute_map(attributes: Any) -> dict[str, Any]:
    if not isinstance(attributes, list):
        return {}
    result = {}
    for item in attributes:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            result[item["key"]] = attribute_value(item.get("value"))
    return result


def split_span_path(path: str) -> tuple[str, ...]:
    """Cut `attributes.<key>` and `resource.<key>` after the first dot only; other paths name a span field."""
    head, _, key = path.partition(".")
    if head in ("attributes", "resource") and key:
        return (head, key)
    return (path,)


class OtelGenAIParser:
    """Parser for OTLP JSON trace exports with GenAI spans."""

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._labels = LabelMapper(attribution, label_paths, default_label_paths, split_span_path)

    @guarded
    def parse(self, record: bytes) -> list[CallEvent]:
        data = decode_object(record)
        resource_spans = data.get("resourceSpans")
        if not isinstance(resource_spans, list):
            raise RecordRejected("missing_field", "resourceSpans is missing: not an OTLP JSON trace export")
        events = []
        for resource_span in resource_spans:
            if not isinstance(resource_span, dict):
                raise RecordRejected("invalid_field", "a resourceSpans entry is not an object")
            resource = attribute_map((resource_span.get("resource") or {}).get("attributes"))
            for scope_span in resource_span.get("scopeSpans") or ():
                if not isinstance(scope_span, dict):
                    raise RecordRejected("invalid_field", "a scopeSpans entry is not an object")
                for span in scope_span.get("spans") or ():
                    if not isinstance(span, dict):
                        raise RecordRejected("invalid_field", "a span is not an object")
                    event = self._event(span, resource)
                    if event is not None:
                        events.append(event)
        return events

    def _event(self, span: dict[str, Any], resource: dict[str, Any]) -> CallEvent | None:
        attributes = attribute_map(span.get("attributes"))
        operation = attributes.get("gen_ai.operation.name")
        if operation not in MODEL_OPERATIONS and operation != TOOL_OPERATION:
            return None
        view = {**span, "attributes": attributes, "resource": resource}
        nanoseconds = _nanoseconds(span.get("endTimeUnixNano") or span.get("startTimeUnixNano"))
        status_code = (span.get("status") or {}).get("code")
        failed = status_code == _STATUS_ERROR or status_code == "STATUS_CODE_ERROR"
        error_class = ""
        if failed:
            error_class = _ERROR_TYPES.get(text_value(attributes.get("error.type")), "other")
        common = {
            "ts": nanoseconds / 10**9,
            "request_id": text_value(span.get("traceId")),
            "call_id": text_value(span.get("spanId")),
            "status": "error" if failed else "ok",
            "error_class": error_class,
            **self._labels.fields(view),
        }
        if operation == TOOL_OPERATION:
            if failed:
                common["error_class"] = "tool_error"
            return CallEvent(kind=KIND_TOOL, tool=text_value(attributes.get("gen_ai.tool.name")), **common)

        provider = text_value(attributes.get("gen_ai.provider.name")) or text_value(attributes.get("gen_ai.system"))
        model = text_value(attributes.get("gen_ai.response.model")) or text_value(attributes.get("gen_ai.request.model"))
        if not provider or not model:
            raise RecordRejected("missing_field", "a GenAI span needs gen_ai.provider.name and a model")
        total_input = _count(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        input_tokens, cache_read, cache_write = split_input(
            total_input, _count(attributes, "gen_ai.usage.cache_read.input_tokens"),
            _count(attributes, "gen_ai.usage.cache_creation.input_tokens"))
        output = _count(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        reasoning = _count(attributes, "gen_ai.usage.reasoning.output_tokens")
        return CallEvent(
            kind=KIND_MODEL,
            provider=PROVIDER_ALIASES.get(provider, provider),
            model=model,
            input_tokens=input_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=output,
            reasoning_tokens=min(reasoning, output),
            **common,
        )


def _count(attributes: dict[str, Any], key: str, deprecated_key: str = "") -> int:
    value = attributes.get(key)
    if value is None and deprecated_key:
        key, value = deprecated_key, attributes.get(deprecated_key)
    return token_count(value, key)


def _nanoseconds(value: Any) -> int:
    """Return a span time in Unix nanoseconds, written as a decimal string or a number."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if type(value) is not int or value <= 0:
        raise RecordRejected("invalid_timestamp", f"span time {str(value)[:40]!r} is not Unix nanoseconds")
    return value

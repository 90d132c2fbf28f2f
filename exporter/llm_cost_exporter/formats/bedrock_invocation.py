"""Amazon Bedrock model invocation logs (`schemaType: ModelInvocationLog`), one record per line or event.

Bedrock delivers them to S3 (gzip objects of JSON lines under
`AWSLogs/<account>/BedrockModelInvocationLogs/`) and to a CloudWatch Logs group (one record per
log event). Fields used: `timestamp`, `requestId`, `modelId`, `requestMetadata` (the caller's
string map, where attribution usually lives), `identity.arn`, `errorCode`, and the token counts
`input.inputTokenCount`, `input.cacheReadInputTokenCount`, `input.cacheWriteInputTokenCount` and
`output.outputTokenCount`. `inputTokenCount` excludes cache reads and writes, as Anthropic's
`input_tokens` does. Converse responses list their cache writes by time to live in
`output.outputBodyJson.usage.cacheDetails`; the one-hour part is billed at its own rate.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..events import KIND_MODEL, CallEvent
from .base import RecordRejected, extract_path
from .common import LabelMapper, decode_object, guarded, text_value, tokens_at
from .native import parse_timestamp

_ERROR_CODES = {
    "ThrottlingException": "rate_limit",
    "ServiceQuotaExceededException": "rate_limit",
    "ModelTimeoutException": "timeout",
    "InternalServerException": "server_error",
    "ServiceUnavailableException": "server_error",
    "ModelNotReadyException": "server_error",
    "ModelErrorException": "server_error",
    "ValidationException": "client_error",
    "AccessDeniedException": "client_error",
    "ResourceNotFoundException": "client_error",
}


def default_label_paths(name: str) -> tuple[str, ...]:
    if name == "api_key_id":
        return ("requestMetadata.api_key_id", "identity.arn")
    return (f"requestMetadata.{name}",)


class BedrockInvocationParser:
    """Parser for Bedrock invocation log records; `label_paths` maps attribution names to dotted paths."""

    provider = "aws"

    def __init__(self, attribution: Sequence[str] = (), label_paths: dict[str, str] | None = None) -> None:
        self._labels = LabelMapper(attribution, label_paths, default_label_paths)

    @guarded
    def parse(self, record: bytes) -> list[CallEvent]:
        data = decode_object(record)
        schema = data.get("schemaType")
        if schema is not None and schema != "ModelInvocationLog":
            raise RecordRejected("invalid_field", f"schemaType {str(schema)[:40]!r} is not ModelInvocationLog")
        for field in ("timestamp", "modelId"):
            if data.get(field) in (None, ""):
                raise RecordRejected("missing_field", f"{field} is missing")
        ts = parse_timestamp(data["timestamp"])

        error_code = text_value(data.get("errorCode"))
        cache_write = tokens_at(data, "input.cacheWriteInputTokenCount")
        write_1h = 0
        details = extract_path(data, "output.outputBodyJson.usage.cacheDetails")
        if isinstance(details, list):
            for index, detail in enumerate(details):
                if isinstance(detail, dict) and detail.get("ttl") == "1h":
                    write_1h += tokens_at(detail, "inputTokens")
                elif not isinstance(detail, dict):
                    raise RecordRejected("invalid_field", f"cacheDetails[{index}] is not an object")
        write_1h = min(write_1h, cache_write)

        return [CallEvent(
            ts=ts,
            kind=KIND_MODEL,
            request_id=text_value(extract_path(data, "requestMetadata.request_id")),
            call_id=text_value(data.get("requestId")),
            provider=self.provider,
            model=text_value(data.get("modelId")),
            input_tokens=tokens_at(data, "input.inputTokenCount"),
            cache_read_tokens=tokens_at(data, "input.cacheReadInputTokenCount"),
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=write_1h,
            output_tokens=tokens_at(data, "output.outputTokenCount"),
            status="error" if error_code else "ok",
            error_class=_ERROR_CODES.get(error_code, "other") if error_code else "",
            **self._labels.fields(data),
        )]

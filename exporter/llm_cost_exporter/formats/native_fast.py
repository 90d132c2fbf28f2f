"""The typed fast path of the native parser, decoded and validated by msgspec in C.

It accepts only the common, clean shape: strings where strings belong, whole non-negative
token counts, known enum values. Anything else raises NotFastPath, and the caller falls
back to the tolerant path in native.py, which coerces the record or rejects it with a
reason. Each record is therefore parsed by exactly one of the two paths.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Union

import msgspec

from ..events import CallEvent

TokenCount = Annotated[int, msgspec.Meta(ge=0)]


class NativeRecord(CallEvent, gc=False):
    """A native record decoded straight into a CallEvent subclass, so that no copy is made.

    The fields it redeclares are validated more strictly than CallEvent's. The attribution
    fields are CallEvent's own, so nothing is gathered after decoding.
    """

    ts: Union[datetime, float]
    kind: Literal["model", "tool", "request_end"]
    input_tokens: TokenCount = 0
    cache_read_tokens: TokenCount = 0
    cache_write_tokens: TokenCount = 0
    cache_write_1h_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    reasoning_tokens: TokenCount = 0
    status: Literal["ok", "error"] = "ok"
    error_class: Literal["", "rate_limit", "timeout", "server_error", "client_error", "tool_error",
                         "content_filter", "other"] = ""
    attempt: Annotated[int, msgspec.Meta(ge=1)] = 1
    cost_usd: Union[Annotated[float, msgspec.Meta(ge=0)], None] = None


class NotFastPath(Exception):
    """The record needs the tolerant path."""


_decode = msgspec.json.Decoder(NativeRecord).decode
_UTC = timezone.utc


def parse_fast(line: bytes) -> CallEvent:
    """Decode a clean native record, or raise NotFastPath."""
    try:
        record = _decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise NotFastPath from None

    ts = record.ts
    if ts.__class__ is float:
        if not 0 <= ts < 1e11:
            raise NotFastPath
    else:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=_UTC)
        record.ts = ts.timestamp()
    kind = record.kind
    if kind == "request_end":
        return CallEvent(record.ts, kind, record.request_id)  # the rest of a request end is not read

    if kind == "model" and not (record.provider and record.model):
        raise NotFastPath
    if record.cache_write_1h_tokens > record.cache_write_tokens or record.reasoning_tokens > record.output_tokens:
        raise NotFastPath
    if record.status == "error" and not record.error_class:
        record.error_class = "other"
    return record

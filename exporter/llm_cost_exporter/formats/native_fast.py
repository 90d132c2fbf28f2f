"""The typed fast path of the native parser, decoded and validated by msgspec in C.

It accepts only the common, clean shape: strings where strings belong, whole non-negative
token counts, known enum values. Anything else raises, and the caller falls back to the
tolerant path in native.py, which coerces or rejects with a reason; a record is therefore
parsed by exactly one of the two paths.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Union

import msgspec

from ..events import CallEvent

TokenCount = Annotated[int, msgspec.Meta(ge=0)]


class NativeRecord(msgspec.Struct, gc=False):
    """The native record. The first fields are in CallEvent's order, so a tuple slice converts."""

    ts: Union[datetime, float]
    kind: Literal["model", "tool", "request_end"]
    request_id: str = ""
    call_id: str = ""
    retry_of: str = ""
    provider: str = ""
    model: str = ""
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
    tool: str = ""
    prompt_prefix_hash: str = ""
    cost_usd: Union[Annotated[float, msgspec.Meta(ge=0)], None] = None
    user_id: str = ""
    cohort: str = ""
    feature: str = ""
    intent: str = ""
    cost_center: str = ""
    product_line: str = ""
    customer_id: str = ""
    api_key_id: str = ""


class NotFastPath(Exception):
    """The record needs the tolerant path."""


_decode = msgspec.json.Decoder(NativeRecord).decode
_as_tuple = msgspec.structs.astuple
_UTC = timezone.utc
# NativeRecord's fields after CallEvent's are the attribution fields, in this order.
ATTRIBUTION_ORDER = ("user_id", "cohort", "feature", "intent", "cost_center", "product_line", "customer_id",
                     "api_key_id")
_EVENT_FIELDS = 19  # CallEvent's fields before `attributes`


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
        ts = ts.timestamp()
    kind = record.kind
    if kind == "request_end":
        return CallEvent(ts, kind, record.request_id)

    values = _as_tuple(record)
    # values[5:13]: provider, model, input, cache read, cache write, of which 1h, output, reasoning.
    if kind == "model" and not (values[5] and values[6]):
        raise NotFastPath
    if values[10] > values[9] or values[12] > values[11]:
        raise NotFastPath
    attributes = {"user_id": values[19], "cohort": values[20], "feature": values[21], "intent": values[22],
                  "cost_center": values[23], "product_line": values[24], "customer_id": values[25],
                  "api_key_id": values[26]}
    event = CallEvent(ts, *values[1:_EVENT_FIELDS], attributes)
    if event.status == "error" and not event.error_class:
        event.error_class = "other"
    return event

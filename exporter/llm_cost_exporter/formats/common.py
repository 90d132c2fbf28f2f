"""Helpers the vendor formats share: decoding, token fields, attribution paths and error classes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..events import ATTRIBUTION_FIELDS, CallEvent, attribution_fields
from .base import RecordRejected, extract_path

# Provider names as OpenTelemetry (`gen_ai.provider.name`) and LiteLLM (`custom_llm_provider`)
# spell them, mapped to the provider ids of the price book (genai-prices).
PROVIDER_ALIASES = {
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure_ai": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "ibm.watsonx.ai": "ibm",
}

# No single call comes near this; larger counts are corrupt and would overflow the float counters.
MAX_TOKENS = 10**12

_STATUS_ERROR_CLASSES = ((429, "rate_limit"), (408, "timeout"), (504, "timeout"))


def decode_object(record: bytes) -> dict[str, Any]:
    """Decode one JSON record that must be an object."""
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError as err:
        raise RecordRejected("invalid_json", str(err)) from None
    if not isinstance(data, dict):
        raise RecordRejected("not_an_object", f"top-level value is a {type(data).__name__}")
    return data


def guarded(parse: Callable[..., list[CallEvent]]) -> Callable[..., list[CallEvent]]:
    """Turn any unexpected exception of a parser into a rejection, so a bad record is never fatal."""

    @functools.wraps(parse)
    def wrapper(self, record: bytes) -> list[CallEvent]:
        try:
            return parse(self, record)
        except RecordRejected:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError) as err:
            raise RecordRejected("invalid_field", f"{type(err).__name__}: {str(err)[:200]}") from None

    return wrapper


def token_count(value: Any, field: str) -> int:
    """Return a token count: a whole number, a whole float or a decimal string (OTLP JSON int64)."""
    if value is None:
        return 0
    if type(value) is int:
        count = value
    elif type(value) is float and value.is_integer():
        count = int(value)
    elif type(value) is str and value.isascii() and value.isdigit() and len(value) <= 20:
        count = int(value)
    else:
        raise RecordRejected("invalid_tokens", f"{field} is {str(value)[:40]!r}, not a whole number")
    if count < 0:
        raise RecordRejected("invalid_tokens", f"{field} is negative ({count})")
    if count > MAX_TOKENS:
        raise RecordRejected("invalid_tokens", f"{field} is {count}, more than {MAX_TOKENS} tokens in one call")
    return count


def tokens_at(record: Any, path: str) -> int:
    return token_count(extract_path(record, path), path)


def split_input(total: int, cache_read: int, cache_write: int) -> tuple[int, int, int]:
    """Split an input total that includes cache reads and writes into three disjoint counts.

    Where a vendor reports more cached tokens than input tokens (seen in OpenAI responses),
    the cached counts are capped at the total so that no count becomes negative.
    """
    cache_read = min(cache_read, total)
    cache_write = min(cache_write, total - cache_read)
    return total - cache_read - cache_write, cache_read, cache_write


def text_value(value: Any) -> str:
    """Return a label value: strings as they are, numbers as text, anything else as empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def error_class_for_status(code: int) -> str:
    """Map an HTTP status code to an error class of the native format."""
    for status, error_class in _STATUS_ERROR_CLASSES:
        if code == status:
            return error_class
    if code >= 500:
        return "server_error"
    if code >= 400:
        return "client_error"
    return "other"


def split_dotted(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def resolve(record: Any, parts: tuple[str, ...]) -> Any:
    """Return the value at pre-split path `parts`, or None where it is absent (as extract_path does)."""
    value = record
    for part in parts:
        if type(value) is dict:
            value = value.get(part)
            if value is None:
                return None
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class LabelMapper:
    """Read attribution values from a record through dotted paths.

    Each attribution name has a list of candidate paths, tried in order; the first that contains a
    string or number wins. A source's `labels` setting replaces the candidates of a name with its
    one path, and `defaults(name)` returns the format's candidates for every other name.
    `split` cuts a path into the keys to follow (OTel keeps dotted attribute keys whole).
    """

    def __init__(
        self,
        attribution: Sequence[str],
        label_paths: Mapping[str, str] | None,
        defaults: Callable[[str], Sequence[str]] = lambda name: (name,),
        split: Callable[[str], tuple[str, ...]] = split_dotted,
    ) -> None:
        names = [*ATTRIBUTION_FIELDS, *(name for name in attribution if name not in ATTRIBUTION_FIELDS)]
        names.extend(name for name in (label_paths or {}) if name not in names)
        self._paths: list[tuple[str, tuple[tuple[str, ...], ...]]] = []
        for name in names:
            if label_paths and name in label_paths:
                paths = (label_paths[name],)
            else:
                paths = tuple(defaults(name))
            self._paths.append((name, tuple(split(path) for path in paths)))

    def fields(self, record: Any) -> dict[str, object]:
        """Return the record's attribution values as CallEvent keyword arguments."""
        return attribution_fields(self.attributes(record))

    def attributes(self, record: Any) -> dict[str, str]:
        attributes = {}
        for name, candidates in self._paths:
            text = ""
            for parts in candidates:
                value = resolve(record, parts)
                if value is None:
                    continue
                text = value if type(value) is str else text_value(value)
                if text:
                    break
            attributes[name] = text
        return attributes


def optional_number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise RecordRejected("invalid_field", f"{field} {str(value)[:40]!r} is not a non-negative number")
    return float(value)


def attempt_number(value: Any) -> int:
    if value is None:
        return 1
    if type(value) is not int or value < 1:
        raise RecordRejected("invalid_field", f"attempt {str(value)[:40]!r} is not a whole number >= 1")
    return value


def find_response(data: dict[str, Any], keys: Sequence[str] = ("response", "body")) -> dict[str, Any]:
    """Return the vendor response inside a gateway envelope, or the record itself when it is bare."""
    for key in keys:
        inner = data.get(key)
        if isinstance(inner, dict):
            return inner
    return data


def envelope_fields(data: dict[str, Any], response: dict[str, Any], default_provider: str) -> dict[str, Any]:
    """Return the CallEvent fields that a gateway writes around a vendor response.

    These are the request and call ids, the retried call, the provider, the attempt, the
    prompt prefix hash and the gateway's cost. The call id falls back to the response's id.
    """
    return {
        "request_id": text_value(data.get("request_id")),
        "call_id": text_value(data.get("call_id")) or text_value(response.get("id")),
        "retry_of": text_value(data.get("retry_of")),
        "provider": text_value(data.get("provider")) or default_provider,
        "attempt": attempt_number(data.get("attempt")),
        "prompt_prefix_hash": text_value(data.get("prompt_prefix_hash")),
        "cost_usd": optional_number(data.get("cost_usd"), "cost_usd"),
    }

"""CallEvent: one normalized model or tool call, the unit every format parser produces."""

from __future__ import annotations

import msgspec

KIND_MODEL = "model"
KIND_TOOL = "tool"
KIND_REQUEST_END = "request_end"
KINDS = frozenset({KIND_MODEL, KIND_TOOL, KIND_REQUEST_END})

ERROR_CLASSES = frozenset(
    {"rate_limit", "timeout", "server_error", "client_error", "tool_error", "content_filter", "other"}
)

TOKEN_TYPES = ("input", "cache_read", "cache_write", "output")

# Attribution fields of the native log format. Which of them become labels is configured.
ATTRIBUTION_FIELDS = (
    "user_id",
    "cohort",
    "feature",
    "intent",
    "cost_center",
    "product_line",
    "customer_id",
    "api_key_id",
)


class CallEvent(msgspec.Struct, gc=False):
    """One model call, tool call or request end, with its token counts split into disjoint types.

    `input_tokens` excludes cache reads and writes. `cache_write_1h_tokens` is the part of
    `cache_write_tokens` billed at the one-hour cache write rate (Anthropic), and
    `reasoning_tokens` is the part of `output_tokens` spent on reasoning.
    The attribution values of the native format's fields (ATTRIBUTION_FIELDS) are fields of
    their own, so that the aggregator reads them without a lookup by name. Values of other
    labels are in `extra_attributes`, and `attributes` gives all of them by name.

    A msgspec Struct rather than a dataclass because millions are built per minute: it is
    cheaper to construct and, with gc=False, not tracked by the garbage collector (an event
    never refers back to itself). Construct it with keywords; positions are for parsers only.
    """

    ts: float
    kind: str
    request_id: str = ""
    call_id: str = ""
    retry_of: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    status: str = "ok"
    error_class: str = ""
    attempt: int = 1
    tool: str = ""
    prompt_prefix_hash: str = ""
    cost_usd: float | None = None
    user_id: str = ""
    cohort: str = ""
    feature: str = ""
    intent: str = ""
    cost_center: str = ""
    product_line: str = ""
    customer_id: str = ""
    api_key_id: str = ""
    extra_attributes: dict[str, str] = {}

    @property
    def attributes(self) -> dict[str, str]:
        """Every attribution value by name: the fields of ATTRIBUTION_FIELDS, then the extra ones."""
        return {**{name: getattr(self, name) for name in ATTRIBUTION_FIELDS}, **self.extra_attributes}


def attribution_fields(values: dict[str, str]) -> dict[str, object]:
    """Split attribution values by name into CallEvent keyword arguments: fields and extra_attributes."""
    fields: dict[str, object] = {name: values[name] for name in ATTRIBUTION_FIELDS if name in values}
    fields["extra_attributes"] = {name: value for name, value in values.items() if name not in fields}
    return fields

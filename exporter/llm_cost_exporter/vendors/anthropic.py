"""Anthropic Admin API: the messages usage report and the cost report.

Endpoints: GET {base_url}/v1/organizations/usage_report/messages and .../cost_report, headers
`x-api-key: <admin key>` and `anthropic-version`. `starting_at` and `ending_at` are RFC 3339; the API
returns the buckets that start at or after `starting_at` and end before `ending_at`, so the bucket in
progress appears only once it has ended. Every interval has a bucket, empty ones with `results: []`.

Token mapping: the four input categories are disjoint (uncached, cache read, 5-minute and 1-hour
cache writes). Cost `amount` is a decimal string in cents: "123.45" is 1.2345 USD.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .collector import COST, TOKENS
from .errors import VendorError
from .http import JSONClient, RetryPolicy
from .ledger import Bucket, series
from .poller import Hooks, StreamPoller, label_value, number
from .reports import as_list, bucket_bounds_rfc3339, format_rfc3339
from .secrets import load_api_key

BUCKET_SECONDS = {"1m": 60.0, "1h": 3600.0, "1d": 86400.0}
BUCKET_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}
COST_LIMIT = 31
DAY = 86400.0
COST_LOOKBACK = 2 * DAY
"""Daily cost buckets are revised for a day or more after they close, so they are re-read for at least two days."""
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"

# Label values for a null dimension of a report grouped by it.
NULL_MEANING = {"workspace_id": "default", "api_key_id": "console"}


class AnthropicUsagePoller(StreamPoller):
    """Sample output:

        llm_vendor_tokens_total{provider="anthropic",model="claude-sonnet-4-5",token_type="cache_write",project="default"} 41880.0
        llm_vendor_cost_usd_total{provider="anthropic",project="wrkspc_01",line_item="Claude Sonnet 4.5 Usage - Output Tokens"} 22.07514
    """

    def __init__(self, config, hooks: Hooks | None = None) -> None:
        super().__init__(config, hooks)
        self._client: JSONClient | None = None
        self._extra_dimensions = [name for name in config.group_by if name not in ("model", "workspace_id")]
        self.add_stream("usage/messages", BUCKET_SECONDS[config.bucket_width], config.lookback, self._fetch_usage)
        if config.costs:
            self.add_stream("costs", DAY, max(config.lookback, COST_LOOKBACK), self._fetch_costs)

    def client(self) -> JSONClient:
        if self._client is None:
            key = load_api_key(self.config.api_key_env, self.config.api_key_file)
            policy = RetryPolicy(timeout=self.config.timeout, max_attempts=self.config.max_attempts,
                                 budget=self.config.retry_budget)
            headers = {"x-api-key": key, "anthropic-version": self.config.anthropic_version}
            self._client = JSONClient(self.config.base_url, headers, policy, self.count_error,
                                      self.hooks.sleep, self.hooks.rng, self.name)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _dimension(self, result: dict, name: str) -> str:
        grouped = name in self.config.group_by
        return label_value(result.get(name), NULL_MEANING.get(name, "none") if grouped else "none")

    def _fetch_usage(self, start: float, end: float) -> list[Bucket]:
        width = self.config.bucket_width
        params = [("starting_at", format_rfc3339(start)), ("ending_at", format_rfc3339(end)),
                  ("bucket_width", width), ("limit", BUCKET_LIMITS[width]),
                  *(("group_by[]", name) for name in self.config.group_by)]
        buckets = []
        for page in self.client().pages(USAGE_PATH, params):
            for raw in as_list(page, "data", USAGE_PATH):
                bucket = Bucket(*bucket_bounds_rfc3339(raw, USAGE_PATH))
                for result in as_list(raw, "results", USAGE_PATH):
                    self._add_usage(bucket, _object(result))
                buckets.append(bucket)
        return buckets

    def _add_usage(self, bucket: Bucket, result: dict) -> None:
        where = USAGE_PATH
        labels = {"provider": self.provider, "model": label_value(result.get("model")),
                  "project": self._dimension(result, "workspace_id")}
        extra = {name: self._dimension(result, name) for name in self._extra_dimensions}
        creation = result.get("cache_creation") or {}
        if not isinstance(creation, dict):
            raise VendorError("invalid_response", f"{where}: field cache_creation is not an object")
        tokens = {
            "input": number(result.get("uncached_input_tokens"), "uncached_input_tokens", where),
            "cache_read": number(result.get("cache_read_input_tokens"), "cache_read_input_tokens", where),
            "cache_write": number(creation.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens", where)
            + number(creation.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens", where),
            "output": number(result.get("output_tokens"), "output_tokens", where),
        }
        for token_type, value in tokens.items():
            bucket.add(series(TOKENS, **labels, token_type=token_type, **extra), value)

    def _fetch_costs(self, start: float, end: float) -> list[Bucket]:
        params = [("starting_at", format_rfc3339(start)), ("ending_at", format_rfc3339(end)),
                  ("bucket_width", "1d"), ("limit", COST_LIMIT),
                  ("group_by[]", "workspace_id"), ("group_by[]", "description")]
        buckets = []
        for page in self.client().pages(COST_PATH, params):
            for raw in as_list(page, "data", COST_PATH):
                bucket = Bucket(*bucket_bounds_rfc3339(raw, COST_PATH))
                for result in as_list(raw, "results", COST_PATH):
                    result = _object(result)
                    currency = str(result.get("currency") or "USD").upper()
                    if currency != "USD":
                        raise VendorError("invalid_response",
                                          f"{COST_PATH}: cost in {currency!r}; only USD is supported")
                    line_item = result.get("description") or result.get("cost_type")
                    labels = {"provider": self.provider,
                              "project": label_value(result.get("workspace_id"), "default"),
                              "line_item": label_value(line_item)}
                    bucket.add(series(COST, **labels), cents_to_usd(result.get("amount")))
                buckets.append(bucket)
        return buckets


def cents_to_usd(amount: object) -> float:
    """Convert a cost report amount (a decimal string in cents) to USD: "123.45" -> 1.2345."""
    if isinstance(amount, bool) or not isinstance(amount, (str, int, float)):
        raise VendorError("invalid_response", f"{COST_PATH}: amount {amount!r} is not a decimal string")
    try:
        cents = Decimal(str(amount))
    except InvalidOperation:
        raise VendorError("invalid_response", f"{COST_PATH}: amount {amount!r} is not a decimal string") from None
    if not cents.is_finite() or cents < 0:
        raise VendorError("invalid_response", f"{COST_PATH}: amount {amount!r} is not a finite number >= 0")
    return float(cents / 100)


def _object(item: object) -> dict:
    if not isinstance(item, dict):
        raise VendorError("invalid_response", f"a report result is {type(item).__name__}, expected an object")
    return item

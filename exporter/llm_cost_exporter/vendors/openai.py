"""OpenAI organization usage (completions, embeddings) and costs, read with an admin key.

Endpoints: GET {base_url}/organization/usage/{completions,embeddings} and GET {base_url}/organization/costs,
`Authorization: Bearer <admin key>`, Unix-second `start_time` (inclusive) and `end_time` (exclusive),
`limit` counting buckets, and cursor paging through `has_more` and `next_page`.

Token mapping: the usage API's `input_tokens` includes cached and cache-write tokens, so
input = input_tokens - input_cached_tokens - input_cache_write_tokens (never below 0).
Costs come in whole dollars (`amount.value`, currency "usd") in daily buckets.
"""

from __future__ import annotations

from functools import partial

from .collector import COST, REQUESTS, TOKENS
from .errors import VendorError
from .http import JSONClient, RetryPolicy
from .ledger import Bucket, series
from .poller import Hooks, StreamPoller, label_value, number
from .reports import as_list, as_object, bucket_bounds_unix
from .secrets import load_api_key

BUCKET_SECONDS = {"1m": 60.0, "1h": 3600.0, "1d": 86400.0}
BUCKET_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}
COSTS_LIMIT = 180
DAY = 86400.0
COST_LOOKBACK = 2 * DAY
"""Daily cost buckets are revised for a day or more after they close, so they are re-read for at least two days."""


class OpenAIUsagePoller(StreamPoller):
    """Sample output:

        llm_vendor_tokens_total{provider="openai",model="gpt-4.1-mini",token_type="cache_read",project="proj_k3"} 301200.0
        llm_vendor_requests_total{provider="openai",model="gpt-4.1-mini",project="proj_k3"} 913.0
        llm_vendor_cost_usd_total{provider="openai",project="proj_k3",line_item="gpt-4.1-mini, input"} 12.4071
    """

    def __init__(self, config, hooks: Hooks | None = None) -> None:
        super().__init__(config, hooks)
        self._client: JSONClient | None = None
        self._extra_dimensions = [name for name in config.group_by if name not in ("model", "project_id")]
        width = BUCKET_SECONDS[config.bucket_width]
        for endpoint in config.usage:
            self.add_stream(f"usage/{endpoint}", width, config.lookback, partial(self._fetch_usage, endpoint))
        if config.costs:
            self.add_stream("costs", DAY, max(config.lookback, COST_LOOKBACK), self._fetch_costs)

    def client(self) -> JSONClient:
        if self._client is None:
            key = load_api_key(self.config.api_key_env, self.config.api_key_file)
            policy = RetryPolicy(timeout=self.config.timeout, max_attempts=self.config.max_attempts,
                                 budget=self.config.retry_budget)
            self._client = JSONClient(self.config.base_url, {"Authorization": f"Bearer {key}"}, policy,
                                      self.count_error, self.hooks.sleep, self.hooks.rng, self.name)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _fetch_usage(self, endpoint: str, start: float, end: float) -> list[Bucket]:
        width = self.config.bucket_width
        params = [("start_time", int(start)), ("end_time", int(end)), ("bucket_width", width),
                  ("limit", BUCKET_LIMITS[width]), *(("group_by[]", name) for name in self.config.group_by)]
        path = f"/organization/usage/{endpoint}"
        buckets = []
        for page in self.client().pages(path, params):
            for raw in as_list(page, "data", path):
                bucket = Bucket(*bucket_bounds_unix(raw, path))
                for result in _results(raw, path):
                    self._add_usage(bucket, endpoint, result, path)
                buckets.append(bucket)
        return buckets

    def _add_usage(self, bucket: Bucket, endpoint: str, result: dict, where: str) -> None:
        labels = {"provider": self.provider, "model": label_value(result.get("model")),
                  "project": label_value(result.get("project_id"))}
        extra = {name: label_value(result.get(name)) for name in self._extra_dimensions}
        input_total = number(result.get("input_tokens"), "input_tokens", where)
        if endpoint == "completions":
            cached = number(result.get("input_cached_tokens"), "input_cached_tokens", where)
            written = number(result.get("input_cache_write_tokens"), "input_cache_write_tokens", where)
            tokens = {"input": max(input_total - cached - written, 0.0), "cache_read": cached,
                      "cache_write": written, "output": number(result.get("output_tokens"), "output_tokens", where)}
        else:
            tokens = {"input": input_total}
        for token_type, value in tokens.items():
            bucket.add(series(TOKENS, **labels, token_type=token_type, **extra), value)
        bucket.add(series(REQUESTS, **labels, **extra),
                   number(result.get("num_model_requests"), "num_model_requests", where))

    def _fetch_costs(self, start: float, end: float) -> list[Bucket]:
        group_by = ["project_id", "line_item", *(["api_key_id"] if "api_key_id" in self.config.group_by else [])]
        params = [("start_time", int(start)), ("end_time", int(end)), ("bucket_width", "1d"),
                  ("limit", COSTS_LIMIT), *(("group_by[]", name) for name in group_by)]
        path = "/organization/costs"
        buckets = []
        for page in self.client().pages(path, params):
            for raw in as_list(page, "data", path):
                bucket = Bucket(*bucket_bounds_unix(raw, path))
                for result in _results(raw, path):
                    amount = as_object(result, "amount", path)
                    currency = str(amount.get("currency", "usd")).lower()
                    if currency != "usd":
                        raise VendorError("invalid_response", f"{path}: cost in {currency!r}; only usd is supported")
                    labels = {"provider": self.provider, "project": label_value(result.get("project_id")),
                              "line_item": label_value(result.get("line_item"))}
                    if "api_key_id" in group_by:
                        labels["api_key_id"] = label_value(result.get("api_key_id"))
                    bucket.add(series(COST, **labels), number(amount.get("value"), "amount.value", path))
                buckets.append(bucket)
        return buckets


def _results(raw: dict, where: str) -> list[dict]:
    # Older OpenAPI descriptions name the list `result`; current ones `results`.
    key = "results" if "results" in raw or "result" not in raw else "result"
    return [item for item in as_list(raw, key, where) if _is_object(item, where)]


def _is_object(item: object, where: str) -> bool:
    if not isinstance(item, dict):
        raise VendorError("invalid_response", f"{where}: a result is {type(item).__name__}, expected an object")
    return True

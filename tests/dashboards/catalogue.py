"""The exporter's metric catalogue: every metric name with the labels the exporter gives it.

Prometheus adds `job` and `instance` on scrape, and may add `cluster`; histograms
also have `_bucket` (with `le`), `_sum` and `_count` series.
"""

from __future__ import annotations

ATTR = {"feature", "intent", "cohort", "cost_center", "product_line"}
SCRAPE = {"job", "instance", "cluster"}

METRICS: dict[str, set[str]] = {
    "llm_tokens_total": {"provider", "model", "token_type"} | ATTR,
    "llm_reasoning_tokens_total": {"provider", "model"} | ATTR,
    "llm_cost_usd_total": {"provider", "model", "token_type"} | ATTR,
    "llm_calls_total": {"provider", "model", "status"} | ATTR,
    "llm_retries_total": {"provider", "model", "error_class", "feature"},
    "llm_retry_cost_usd_total": {"provider", "error_class", "feature"},
    "llm_tool_calls_total": {"tool", "status", "feature"},
    "llm_request_cost_usd": {"feature", "intent", "cohort"},
    "llm_request_model_calls": {"feature", "intent"},
    "llm_request_tool_calls": {"feature", "intent"},
    "llm_user_spend_usd": {"cohort", "window", "quantile"},
    "llm_active_users": {"cohort", "window"},
    "llm_top_user_spend_usd": {"cohort", "window", "user"},
    "llm_prompt_prefixes": {"feature", "window"},
    "llm_budget_usd": {"budget", "period"},
    "llm_budget_spend_usd": {"budget", "period"},
    "llm_budget_period_start_timestamp_seconds": {"budget", "period"},
    "llm_budget_period_end_timestamp_seconds": {"budget", "period"},
    "llm_vendor_tokens_total": {"provider", "model", "token_type", "project"},
    "llm_vendor_cost_usd_total": {"provider", "project", "line_item"},
    "llm_vendor_data_end_timestamp_seconds": {"provider", "source"},
    "llm_breaker_open": {"scope", "key"},
    "llm_exporter_events_total": {"source", "result"},
    "llm_exporter_events_rejected_total": {"source", "reason"},
    "llm_exporter_unpriced_tokens_total": {"provider", "model"},
    "llm_exporter_source_up": {"source"},
    "llm_exporter_source_last_success_timestamp_seconds": {"source"},
    "llm_exporter_source_errors_total": {"source", "error_class"},
    "llm_exporter_label_overflow_total": {"label"},
    "llm_exporter_build_info": {"version", "pricing_version"},
}

HISTOGRAMS = {"llm_request_cost_usd", "llm_request_model_calls", "llm_request_tool_calls"}


def labels_of(series_name: str) -> set[str] | None:
    """Return the labels of a series name (histogram suffixes included), or None when unknown."""
    if series_name in METRICS:
        return METRICS[series_name] | SCRAPE
    for suffix, extra in (("_bucket", {"le"}), ("_sum", set()), ("_count", set())):
        base = series_name.removesuffix(suffix)
        if series_name.endswith(suffix) and base in HISTOGRAMS:
            return METRICS[base] | SCRAPE | extra
    return None

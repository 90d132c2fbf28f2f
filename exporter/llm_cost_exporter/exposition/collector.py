"""A custom collector that renders the latest published snapshot on each scrape.

Sample output (abridged):

    llm_cost_usd_total{provider="openai",model="gpt-4o",token_type="output",feature="search",...} 12.5
    llm_request_cost_usd_bucket{feature="search",intent="lookup",cohort="free",le="0.01"} 311.0
    llm_budget_spend_usd{budget="search-monthly",period="month"} 4810.2
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric,
                                   SummaryMetricFamily)
from prometheus_client.registry import Collector

from .. import __version__
from ..aggregation.aggregator import (CACHE_READ, CACHE_READ_USD, CACHE_WRITE, CACHE_WRITE_USD, CALLS_ERROR,
                                      CALLS_OK, INPUT, INPUT_USD, OUTPUT, OUTPUT_USD, REASONING)
from ..aggregation.histograms import CALL_BUCKETS, COST_BUCKETS, cumulative_buckets
from ..aggregation.snapshot import Snapshot
from ..aggregation.users import QUANTILES
from ..pricing import PRICING_VERSION

_TOKEN_COLUMNS = (("input", INPUT, INPUT_USD), ("cache_read", CACHE_READ, CACHE_READ_USD),
                  ("cache_write", CACHE_WRITE, CACHE_WRITE_USD), ("output", OUTPUT, OUTPUT_USD))
_QUANTILE_LABELS = tuple(repr(q) if q != 1.0 else "1" for q in QUANTILES)


@dataclass(frozen=True)
class SourceStatus:
    """Health of one source as the service last saw it."""

    up: bool
    last_success: float | None
    errors: dict[str, float]


class CostCollector(Collector):
    """Renders `snapshot()` and `sources()` (both callables, so tests can inject them).

    TODO: prometheus_client's encoders take about 25 us per labeled series, so a scrape of
    100,000 series takes seconds (see benchmarks/README.md). A renderer that caches each
    series' label text would cut that several times.
    """

    def __init__(self, snapshot: Callable[[], Snapshot | None],
                 sources: Callable[[], dict[str, SourceStatus]] = dict) -> None:
        self._snapshot = snapshot
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        build = GaugeMetricFamily("llm_exporter_build_info", "Build of the exporter; always 1.",
                                  labels=["version", "pricing_version"])
        build.add_metric([__version__, PRICING_VERSION], 1)
        yield build
        yield from self._source_families(self._sources())
        if snapshot is None:
            return
        yield from self._token_families(snapshot)
        yield from self._retry_and_tool_families(snapshot)
        yield from self._request_families(snapshot)
        yield from self._user_families(snapshot)
        yield from self._budget_families(snapshot)
        yield from self._health_families(snapshot)

    def _token_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        attribution = list(snapshot.attribution)
        tokens = CounterMetricFamily("llm_tokens", "Tokens by type: input excludes cache reads and writes.",
                                     labels=["provider", "model", "token_type", *attribution])
        cost = CounterMetricFamily("llm_cost_usd", "Cost in USD by token type.",
                                   labels=["provider", "model", "token_type", *attribution])
        reasoning = CounterMetricFamily("llm_reasoning_tokens", "Reasoning tokens, a subset of output tokens.",
                                        labels=["provider", "model", *attribution])
        calls = CounterMetricFamily("llm_calls", "Model calls by status.",
                                    labels=["provider", "model", "status", *attribution])
        for key, values in snapshot.model_series.items():
            provider, model, *attributes = key
            for token_type, token_index, usd_index in _TOKEN_COLUMNS:
                labels = [provider, model, token_type, *attributes]
                tokens.add_metric(labels, values[token_index])
                cost.add_metric(labels, values[usd_index])
            reasoning.add_metric([provider, model, *attributes], values[REASONING])
            calls.add_metric([provider, model, "ok", *attributes], values[CALLS_OK])
            calls.add_metric([provider, model, "error", *attributes], values[CALLS_ERROR])
        yield from (tokens, cost, reasoning, calls)

    def _retry_and_tool_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        yield _counter("llm_retries", "Model calls that retried an earlier attempt, by that attempt's error class.",
                       ["provider", "model", "error_class", "feature"], snapshot.retries)
        yield _counter("llm_retry_cost_usd", "Cost in USD of failed attempts that were retried.",
                       ["provider", "error_class", "feature"], snapshot.retry_cost)
        yield _counter("llm_tool_calls", "Tool calls.", ["tool", "status", "feature"], snapshot.tool_calls)

    def _request_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        yield _histogram("llm_request_cost_usd", "Cost in USD per user-initiated request.",
                         ["feature", "intent", "cohort"], snapshot.request_cost, COST_BUCKETS)
        yield _histogram("llm_request_model_calls", "Model calls per user-initiated request.",
                         ["feature", "intent"], snapshot.request_model_calls, CALL_BUCKETS)
        yield _histogram("llm_request_tool_calls", "Tool calls per user-initiated request.",
                         ["feature", "intent"], snapshot.request_tool_calls, CALL_BUCKETS)

    def _user_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        # A summary rather than a gauge, because Prometheus reserves the quantile label for summaries:
        # _count is the number of users with spend in the window and _sum their total spend.
        spend = SummaryMetricFamily("llm_user_spend_usd", "Per-user spend in USD over a rolling window.",
                                    labels=["cohort", "window"])
        active = GaugeMetricFamily("llm_active_users", "Users with spend in the rolling window.",
                                   labels=["cohort", "window"])
        top = GaugeMetricFamily("llm_top_user_spend_usd", "Spend in USD of the top users (pseudonymized).",
                                labels=["cohort", "window", "user"])
        for (cohort, window), (count, total, quantiles, top_users) in snapshot.users.items():
            active.add_metric([cohort, window], count)
            for quantile, value in zip(_QUANTILE_LABELS, quantiles):
                spend.add_sample("llm_user_spend_usd", {"cohort": cohort, "window": window, "quantile": quantile},
                                 value)
            spend.add_metric([cohort, window], count, total)
            for user, value in top_users:
                top.add_metric([cohort, window, user], value)
        prefixes = GaugeMetricFamily("llm_prompt_prefixes", "Distinct prompt prefix hashes seen in the window.",
                                     labels=["feature", "window"])
        for (feature, window), count in snapshot.prefixes.items():
            prefixes.add_metric([feature, window], count)
        yield from (spend, active, top, prefixes)

    def _budget_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        names = ("llm_budget_usd", "llm_budget_spend_usd", "llm_budget_period_start_timestamp_seconds",
                 "llm_budget_period_end_timestamp_seconds")
        helps = ("Configured budget in USD.", "Spend in USD in the current budget period (event time).",
                 "Start of the current budget period.", "End of the current budget period.")
        families = [GaugeMetricFamily(name, text, labels=["budget", "period"]) for name, text in zip(names, helps)]
        for budget in snapshot.budgets:
            labels = [budget.name, budget.period]
            for family, value in zip(families, (budget.amount_usd, budget.spend_usd, budget.start, budget.end)):
                family.add_metric(labels, value)
        yield from families

    def _health_families(self, snapshot: Snapshot) -> Iterator[Metric]:
        yield _counter("llm_exporter_events", "Records read, by result.", ["source", "result"], snapshot.events)
        yield _counter("llm_exporter_events_rejected", "Rejected records, by reason.", ["source", "reason"],
                       snapshot.rejected)
        yield _counter("llm_exporter_unpriced_tokens", "Tokens of models with no price (counted at 0 USD).",
                       ["provider", "model"], snapshot.unpriced_tokens)
        yield _counter("llm_exporter_label_overflow", "Label values replaced by __overflow__ past the label's limit.",
                       ["label"], {(label,): value for label, value in snapshot.label_overflow.items()})
        open_requests = GaugeMetricFamily("llm_exporter_open_requests", "Requests assembled but not yet closed.")
        open_requests.add_metric([], snapshot.open_requests)
        yield open_requests
        evicted = CounterMetricFamily("llm_exporter_requests_evicted",
                                      "Requests closed early because the open-request limit was reached.")
        evicted.add_metric([], snapshot.evicted_requests)
        yield evicted

    def _source_families(self, sources: dict[str, SourceStatus]) -> Iterator[Metric]:
        up = GaugeMetricFamily("llm_exporter_source_up", "1 if the last read of the source succeeded.",
                               labels=["source"])
        last = GaugeMetricFamily("llm_exporter_source_last_success_timestamp_seconds",
                                 "Time of the last successful read of the source.", labels=["source"])
        errors = CounterMetricFamily("llm_exporter_source_errors", "Source read errors by class.",
                                     labels=["source", "error_class"])
        for name, status in sources.items():
            up.add_metric([name], 1.0 if status.up else 0.0)
            if status.last_success is not None:
                last.add_metric([name], status.last_success)
            for error_class, count in status.errors.items():
                errors.add_metric([name, error_class], count)
        yield from (up, last, errors)


def _counter(name: str, documentation: str, labels: list[str], table: dict[tuple, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in table.items():
        family.add_metric(list(key), value)
    return family


def _histogram(name: str, documentation: str, labels: list[str], table: dict[tuple, list[float]],
               bounds: tuple[float, ...]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for key, histogram in table.items():
        family.add_metric(list(key), cumulative_buckets(histogram, bounds), histogram[-2])
    return family

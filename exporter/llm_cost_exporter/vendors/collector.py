"""Metric families of the vendor pollers, merged by name so each family is written once per scrape."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .ledger import SeriesKey

TOKENS = "llm_vendor_tokens"
COST = "llm_vendor_cost_usd"
REQUESTS = "llm_vendor_requests"
DATA_END = "llm_vendor_data_end_timestamp_seconds"

COUNTER_HELP = {
    TOKENS: "Tokens reported by the vendor's usage API, by type; input excludes cache reads and writes.",
    COST: "Cost in USD reported by the vendor's cost API, by line item.",
    REQUESTS: "Model requests reported by the vendor's usage API.",
}
DATA_END_HELP = "End of the newest complete bucket read from the vendor API (Unix seconds)."


def counter_families(totals: dict[SeriesKey, float]) -> list[Metric]:
    """Build one counter family per name from {(family, labels): value}; label sets may differ per sample."""
    families: dict[str, CounterMetricFamily] = {}
    for (name, labels), value in sorted(totals.items()):
        family = families.get(name)
        if family is None:
            family = families[name] = CounterMetricFamily(name, COUNTER_HELP.get(name, name))
        family.add_sample(f"{name}_total", dict(labels), value)
    return list(families.values())


def data_end_family(provider: str, source: str, data_end: float | None) -> GaugeMetricFamily:
    """Build the data-end gauge; 0 before any bucket was read, so a staleness alert fires without absent()."""
    family = GaugeMetricFamily(DATA_END, DATA_END_HELP, labels=["provider", "source"])
    family.add_metric([provider, source], data_end if data_end is not None else 0.0)
    return family


def merge_families(metrics: Iterable[Metric]) -> Iterator[Metric]:
    """Yield one family per name, with the samples of every family of that name in arrival order."""
    merged: dict[str, Metric] = {}
    for metric in metrics:
        existing = merged.get(metric.name)
        if existing is None:
            merged[metric.name] = metric
        else:
            existing.samples.extend(metric.samples)
    yield from merged.values()

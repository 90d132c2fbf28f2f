from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_cost_exporter.exposition.encoder import CachingEncoder

ACCEPT_HEADERS = [
    "",
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",  # what Prometheus 2.42 sends
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=dots",
]


class Fixed:
    def __init__(self, families):
        self._families = families

    def collect(self):
        return list(self._families())


def tricky_families():
    counter = CounterMetricFamily("demo_requests", "Requests with a \\ and a\nnewline.", labels=["path", "code"])
    counter.add_metric(['/a"quoted"', "200"], 3)
    counter.add_metric(["back\\slash\nnew line", "500"], 1e-9)
    counter.add_metric(["ünïcødé ✓", "404"], 123456789.0)
    counter.add_metric(["with timestamp", "200"], 7, timestamp=1796119200.5)
    gauge = GaugeMetricFamily("demo_temperature", "A gauge without labels.")
    gauge.add_metric([], float("nan"))
    histogram = HistogramMetricFamily("demo_latency_seconds", "A histogram.", labels=["route"])
    histogram.add_metric(["/"], [("0.1", 2), ("1.0", 5), ("+Inf", 6)], 3.5)
    exemplar_counter = CounterMetricFamily("demo_traced", "A counter with an exemplar.", labels=["route"])
    exemplar_counter.add_metric(["/"], 1)
    from prometheus_client.samples import Exemplar, Sample
    exemplar_counter.samples[0] = Sample("demo_traced_total", {"route": "/"}, 1.0, None,
                                         Exemplar({"trace_id": "abc"}, 1.0))
    info = InfoMetricFamily("demo_build", "Build information.", value={"version": "1.2.3"})
    return [counter, gauge, histogram, exemplar_counter, info]


@pytest.fixture(scope="module")
def busy_registry(tmp_path_factory):
    """The registry of a replayed busy simulated log, plus the process collector."""
    from llm_cost_exporter.aggregation import Aggregator, SnapshotBuilder
    from llm_cost_exporter.commands.replay import read_log
    from llm_cost_exporter.config import parse_config
    from llm_cost_exporter.exposition import CostCollector
    from llm_cost_exporter.formats import make_parser
    from llm_cost_exporter.ingest import RecordIngestor

    log = tmp_path_factory.mktemp("busy") / "busy.jsonl"
    subprocess.run([sys.executable, "-m", "llm_cost_exporter", "simulate", "--seed", "5", "--events", "20000",
                    "--start", "2026-11-30T00:00:00Z", "--output", str(log)], check=True, timeout=300)
    config = parse_config("budgets: [{name: all, period: month, amount_usd: 1000}]\n")
    aggregator = Aggregator(config)
    read_log(log, RecordIngestor("busy", make_parser("native", config.labels.attribution), aggregator))
    aggregator.flush()
    aggregator.advance()
    snapshot = SnapshotBuilder(lambda user: f"u_{user}").build(aggregator)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CostCollector(lambda: snapshot))
    registry.register(ProcessCollector(registry=None))
    families = list(registry.collect())  # frozen: process metrics change between scrapes
    return Fixed(lambda: families)


def test_busy_text_matches_library(busy_registry):
    encoder = CachingEncoder()
    assert encoder.text(busy_registry) == generate_latest(busy_registry)
    assert encoder.text(busy_registry) == generate_latest(busy_registry)  # from the cache


def test_busy_openmetrics_matches_library(busy_registry):
    encoder = CachingEncoder()
    assert encoder.openmetrics(busy_registry) == generate_openmetrics(busy_registry)


def test_tricky_families_match_library():
    registry = Fixed(tricky_families)
    encoder = CachingEncoder()
    assert encoder.text(registry) == generate_latest(registry)
    assert encoder.openmetrics(registry) == generate_openmetrics(registry)


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
def test_negotiation_matches_library(accept):
    registry = Fixed(tricky_families)
    library_encoder, library_type = choose_encoder(accept)
    body, content_type = CachingEncoder().encode(registry, accept)
    assert content_type == library_type
    assert body == library_encoder(registry)


def test_cache_is_bounded():
    encoder = CachingEncoder(max_cached=10)
    family = GaugeMetricFamily("demo_series", "Many label sets.", labels=["id"])
    for index in range(25):
        family.add_metric([str(index)], index)
    registry = Fixed(lambda: [family])
    assert encoder.text(registry) == generate_latest(registry)
    assert len(encoder._labels) <= 10

"""Ingest throughput against an orjson-only baseline, /metrics render time, and peak RSS.

Run with `make bench`. Every ratio is measured in one process. The baseline (orjson.loads
of each line, nothing else) and the exporter's ingestion (parse, price, aggregate) take
turns on the same chunks of lines. Both are timed in CPU time of this thread
(time.thread_time), so load from other processes on a shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_cost_exporter.aggregation import Aggregator, SnapshotBuilder
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.exposition import CostCollector
from llm_cost_exporter.exposition.encoder import CachingEncoder
from llm_cost_exporter.formats import make_parser
from llm_cost_exporter.gctune import tune_for_ingestion
from llm_cost_exporter.ingest import SUB_BATCH, RecordIngestor

REPO = Path(__file__).resolve().parent.parent
CHUNK = 10_000
CONFIG = """
budgets:
  - {name: legal-monthly, match: {cost_center: legal}, period: month, amount_usd: 9000}
  - {name: search-daily, match: {feature: search}, period: day, amount_usd: 150}
"""


def generate_log(path: Path, events: int) -> None:
    if path.exists() and sum(1 for _ in open(path, "rb")) == events:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "llm_cost_exporter", "simulate", "--seed", "1",
                    "--start", "2026-01-05T00:00:00Z", "--events", str(events), "--output", str(path)], check=True)


def chunks(path: Path):
    with open(path, "rb") as stream:
        batch = []
        for line in stream:
            batch.append(line.rstrip(b"\n"))
            if len(batch) == CHUNK:
                yield batch
                batch = []
        if batch:
            yield batch


def measure_ingest(path: Path) -> dict:
    tune_for_ingestion()
    config = parse_config(CONFIG)
    aggregator = Aggregator(config)
    ingestor = RecordIngestor("bench", make_parser("native", config.labels.attribution), aggregator)
    loads = orjson.loads
    baseline_seconds = exporter_seconds = 0.0
    events = 0
    for batch in chunks(path):
        start = time.thread_time()
        for line in batch:
            loads(line)
        baseline_seconds += time.thread_time() - start

        start = time.thread_time()
        ingestor.ingest(batch)
        aggregator.advance()
        exporter_seconds += time.thread_time() - start
        events += len(batch)
    aggregator.flush()
    accepted = aggregator.events.get(("bench", "accepted"), 0)
    assert accepted == events, f"only {accepted} of {events} events accepted"
    return {
        "events": events,
        "baseline_events_per_second": events / baseline_seconds,
        "exporter_events_per_second": events / exporter_seconds,
        "ratio": baseline_seconds / exporter_seconds,
        "series": len(aggregator.model_series),
    }


def measure_breakdown(path: Path) -> dict:
    """Time the exporter's three steps apart: parse, aggregate, and advance after each chunk.

    The parser and the aggregator are called directly, in the sub-batches RecordIngestor uses,
    so the sum is close to the exporter's time above. The result is in microseconds per event.
    """
    config = parse_config(CONFIG)
    aggregator = Aggregator(config)
    parser = make_parser("native", config.labels.attribution)
    seconds = {"parse": 0.0, "aggregate": 0.0, "advance": 0.0}
    events = 0
    for batch in chunks(path):
        for start in range(0, len(batch), SUB_BATCH):
            begin = time.thread_time()
            parsed, _ = parser.parse_batch(batch[start:start + SUB_BATCH], 1 << 20, [])
            parsed_at = time.thread_time()
            aggregator.ingest_batch(parsed, 0.0)
            seconds["parse"] += parsed_at - begin
            seconds["aggregate"] += time.thread_time() - parsed_at

        begin = time.thread_time()
        aggregator.advance()
        seconds["advance"] += time.thread_time() - begin
        events += len(batch)
    return {f"{step}_us_per_event": value / events * 1e6 for step, value in seconds.items()}


def synthetic_aggregator(model_series: int) -> Aggregator:
    """Build an aggregator with `model_series` distinct label sets, each exposed as 11 series."""
    config = parse_config("labels: {default_limit: 100000}\n")
    aggregator = Aggregator(config)
    for index in range(model_series):
        key = ("openai", "gpt-4o", f"feature-{index % 97}", f"intent-{index}", f"cohort-{index % 5}",
               f"cc-{index % 13}", "pl")
        aggregator.model_series[key] = [float(index)] * 11
    return aggregator


def measure_render(target_series: int = 100_000) -> dict:
    aggregator = synthetic_aggregator(target_series // 11 + 1)
    snapshot = SnapshotBuilder(lambda user: user).build(aggregator)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CostCollector(lambda: snapshot))
    text = generate_latest(registry)
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    encoder = CachingEncoder()
    start = time.perf_counter()
    encoder.text(registry)
    cold = time.perf_counter() - start
    renderers = {
        "library_text": lambda: generate_latest(registry),
        "library_openmetrics": lambda: generate_openmetrics(registry),
        "exporter_text": lambda: encoder.text(registry),
        "exporter_openmetrics": lambda: encoder.openmetrics(registry),
    }
    times: dict[str, list[float]] = {name: [] for name in renderers}
    for _ in range(5):
        for name, render in renderers.items():
            start = time.perf_counter()
            render()
            times[name].append(time.perf_counter() - start)
    result = {"series": series, "bytes": len(text), "exporter_text_first_scrape_seconds": cold}
    result.update({f"{name}_seconds_median": statistics.median(values) for name, values in times.items()})
    return result


def measure_replay_rss(path: Path) -> dict:
    config = path.parent / "bench-config.yaml"
    config.write_text(CONFIG)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "llm_cost_exporter", "--log-level", "ERROR", "replay", "--config",
                    str(config), "--output", str(path.parent / "replay.prom"), str(path)], check=True)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_seconds": seconds, "peak_rss_mib": peak_kib / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="simulated log lines (default: 1000000)")
    parser.add_argument("--output", type=Path, default=REPO / "build" / "bench" / "results.json",
                        help="where to write the results as JSON")
    args = parser.parse_args()

    log = REPO / "build" / "bench" / f"gateway-{args.events}.jsonl"
    generate_log(log, args.events)
    results = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": len(__import__("os").sched_getaffinity(0))},
        "ingest": measure_ingest(log),
        "ingest_breakdown": measure_breakdown(log),
        "render_100k": measure_render(),
        "replay": measure_replay_rss(log),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")

    ingest, render, replay = results["ingest"], results["render_100k"], results["replay"]
    breakdown = results["ingest_breakdown"]
    print(f"ingest of {ingest['events']:,} simulated events (CPU time, one thread):")
    print(f"  orjson-only baseline  {ingest['baseline_events_per_second']:>12,.0f} events/s")
    print(f"  exporter              {ingest['exporter_events_per_second']:>12,.0f} events/s")
    print(f"  ratio                 {ingest['ratio']:>12.3f}  (target >= 0.25, aim 0.4)")
    print(f"  exporter's steps, us per event: parse {breakdown['parse_us_per_event']:.2f}, "
          f"aggregate {breakdown['aggregate_us_per_event']:.2f}, advance {breakdown['advance_us_per_event']:.2f}")
    print(f"/metrics render of {render['series']:,} series ({render['bytes'] / 1e6:.1f} MB), median of 5:")
    print(f"  prometheus_client     text {render['library_text_seconds_median'] * 1000:6.0f} ms, "
          f"OpenMetrics {render['library_openmetrics_seconds_median'] * 1000:6.0f} ms")
    print(f"  exporter's encoder    text {render['exporter_text_seconds_median'] * 1000:6.0f} ms, "
          f"OpenMetrics {render['exporter_openmetrics_seconds_median'] * 1000:6.0f} ms "
          f"(first scrape {render['exporter_text_first_scrape_seconds'] * 1000:.0f} ms)")
    print(f"replay of the same log: {replay['wall_seconds']:.1f} s wall, peak RSS {replay['peak_rss_mib']:.0f} MiB")
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The exporter service: sources -> parsers -> aggregator -> checkpoint -> published snapshot -> /metrics.

Ordering that keeps counters monotonic across crashes: a batch is ingested, then the aggregator
state and the source positions are checkpointed in one transaction, and only then is a new
snapshot published to scrapes. A scrape therefore never returns a value that is not durable,
and after `kill -9` the restored counters are at least what any scrape has seen.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import __version__
from .aggregation import Aggregator, Snapshot, SnapshotBuilder, export_state, export_windows, restore_state
from .breaker import Breaker, BreakerCollector, BreakerStore
from .config import Config
from .exposition import CostCollector, SourceStatus
from .exposition.server import build_servers
from .exposition.web_config import WebConfigError
from .formats import make_parser
from .gctune import tune_for_ingestion
from .ingest import RecordIngestor
from .pricing import PRICING_VERSION
from .pseudonym import Pseudonymizer
from .sources import SOURCE_FACTORIES, RecordSource
from .state import StateStore
from .vendors import VENDOR_FACTORIES, VendorPoller
from .vendors.collector import merge_families

log = logging.getLogger(__name__)

STALL_SECONDS = 60.0
WINDOWS_CHECKPOINT_SECONDS = 60.0


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.aggregator = Aggregator(config)
        self.store = StateStore(config.state.path)
        self.sources: list[RecordSource] = []
        self.pollers: list[VendorPoller] = []
        self.ingestors: dict[str, RecordIngestor] = {}
        self._pseudonymizer = Pseudonymizer.from_env(config.cohorts.pseudonymize_key_env)
        self._builder = SnapshotBuilder(self._pseudonymizer.pseudonym)
        self._snapshot: Snapshot | None = None
        self._ready = threading.Event()
        self._heartbeat = time.monotonic()
        self._next_windows_checkpoint = 0.0
        self.checkpoint_failures = 0
        self.last_checkpoint: float | None = None
        self.stop_event = threading.Event()

        registry = CollectorRegistry(auto_describe=False)
        registry.register(CostCollector(lambda: self._snapshot, self.source_statuses))
        registry.register(_VendorCollector(self.pollers))
        registry.register(_CheckpointCollector(self))
        self.breaker: Breaker | None = None
        if config.breaker.enabled:
            self.breaker = Breaker(config.breaker.ttl, BreakerStore(config.state.path))
            registry.register(BreakerCollector(self.breaker))
        self.registry = registry

    # --- lifecycle -------------------------------------------------------------------

    def restore(self) -> None:
        if self.breaker is not None:
            open_keys = self.breaker.restore()
            log.info("restored the breaker from %s: %d key(s) open", self.config.state.path, open_keys)
        checkpoint = self.store.load()
        positions = (checkpoint or {}).get("sources", {})
        vendor_states = (checkpoint or {}).get("vendors", {})
        if checkpoint is not None:
            state = {**checkpoint.get("aggregator", {}), **checkpoint.get("aggregator_windows", {})}
            for warning in restore_state(self.aggregator, state):
                log.warning("restoring state from %s: %s", self.config.state.path, warning)
            log.info("restored state from %s", self.config.state.path)
        for source_config in self.config.sources:
            if source_config.type in VENDOR_FACTORIES:
                poller = VENDOR_FACTORIES[source_config.type](source_config)
                if source_config.name in vendor_states:
                    poller.restore(vendor_states[source_config.name])
                self.pollers.append(poller)
                continue
            source = SOURCE_FACTORIES[source_config.type](
                source_config, positions.get(source_config.name) if checkpoint else None)
            parser = make_parser(source_config.format, self.config.labels.attribution, source_config.labels)
            self.sources.append(source)
            self.ingestors[source.name] = RecordIngestor(
                source.name, parser, self.aggregator, getattr(source_config, "max_line_bytes", 1 << 20))
        self._publish()

    def run(self) -> None:
        """Ingest until `stop_event` is set, then write a last checkpoint."""
        interval = self.config.state.checkpoint_interval
        poll_interval = min((source.config.poll_interval for source in self.sources), default=1.0)
        next_checkpoint = time.monotonic()
        while not self.stop_event.is_set():
            read = self.poll_once()
            self.aggregator.advance(wall_clock=time.time(), caught_up=read == 0)
            self._heartbeat = time.monotonic()
            if time.monotonic() >= next_checkpoint:
                if self._try_checkpoint():
                    self._ready.set()
                next_checkpoint = time.monotonic() + interval
            if read == 0:
                self.stop_event.wait(poll_interval)
        self._try_checkpoint(final=True)

    def _try_checkpoint(self, final: bool = False) -> bool:
        """Checkpoint and publish; on a storage error, log it, publish nothing, and return False.

        Ingestion goes on and the next interval retries. Nothing is lost or counted twice: the
        positions of what was ingested since the last good checkpoint are not committed either.
        """
        try:
            self.checkpoint(final)
        except (OSError, sqlite3.Error) as err:
            self.checkpoint_failures += 1
            if self.checkpoint_failures == 1 or self.checkpoint_failures % 60 == 0:
                log.error("checkpoint to %s failed (%d failures so far): %s; scrapes keep the last "
                          "published values until a checkpoint succeeds", self.config.state.path,
                          self.checkpoint_failures, err)
            return False
        self.last_checkpoint = time.time()
        return True

    def poll_once(self) -> int:
        """Read every source once, poll the vendor APIs that are due, and return the records read."""
        total = 0
        for source in self.sources:
            records = source.poll()
            if records:
                self.ingestors[source.name].ingest(records)
                total += len(records)
        now = time.time()
        for poller in self.pollers:
            if poller.due(now):
                poller.poll(now)
        return total

    def checkpoint(self, final: bool = False) -> None:
        """Persist aggregator state and source positions together, then publish a snapshot.

        The rolling user windows and prompt prefixes are gauges, not counters, and by far the
        largest part of the state. They are saved every WINDOWS_CHECKPOINT_SECONDS and at stop,
        so a crash loses at most that much of them and never a counter.
        """
        now = time.monotonic()
        with_windows = final or now >= self._next_windows_checkpoint
        entries = {"aggregator": export_state(self.aggregator, include_windows=False),
                   "sources": {source.name: source.positions() for source in self.sources},
                   "vendors": {poller.name: poller.export_state() for poller in self.pollers}}
        if with_windows:
            entries["aggregator_windows"] = export_windows(self.aggregator)
            self._next_windows_checkpoint = now + WINDOWS_CHECKPOINT_SECONDS
        self.store.save(entries)
        self._publish()

    def _publish(self) -> None:
        self._snapshot = self._builder.build(self.aggregator)
        for poller in self.pollers:
            poller.publish()

    def close(self) -> None:
        for source in [*self.sources, *self.pollers]:
            source.close()
        self.store.close()
        if self.breaker is not None:
            self.breaker.close()

    # --- probes and status -----------------------------------------------------------

    def healthy(self) -> bool:
        return time.monotonic() - self._heartbeat < STALL_SECONDS

    def ready(self) -> bool:
        return self._ready.is_set()

    def source_statuses(self) -> dict[str, SourceStatus]:
        return {source.name: SourceStatus(source.up, source.last_success, dict(source.errors))
                for source in [*self.sources, *self.pollers]}


class _CheckpointCollector:
    """Health of the state store's checkpoints."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self):
        failures = CounterMetricFamily("llm_exporter_checkpoint_failures",
                                       "Checkpoints of the state store that failed; scrapes keep the last "
                                       "published values meanwhile.")
        failures.add_metric([], self._service.checkpoint_failures)
        yield failures
        if self._service.last_checkpoint is not None:
            last = GaugeMetricFamily("llm_exporter_last_checkpoint_timestamp_seconds",
                                     "Time of the last successful checkpoint of the state store.")
            last.add_metric([], self._service.last_checkpoint)
            yield last


class _VendorCollector:
    """Renders what each vendor poller last published."""

    def __init__(self, pollers: list[VendorPoller]) -> None:
        self._pollers = pollers

    def collect(self):
        # Several pollers report the same families (llm_vendor_tokens_total from each vendor),
        # and a family's HELP and TYPE may appear only once in an exposition.
        yield from merge_families(metric for poller in self._pollers for metric in poller.collect())


def serve(config: Config) -> int:
    """Run the exporter until SIGTERM or SIGINT; return the exit code."""
    import signal

    tune_for_ingestion()
    service = Service(config)
    try:
        servers = build_servers(config, service.registry, service.healthy, service.ready, service.breaker)
    except WebConfigError as err:
        log.error("cannot start: %s", err)
        service.close()
        return 2
    service.restore()

    def stop(signum: int, _frame) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        service.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for server in servers:
        server.start()
    names = [source.name for source in [*service.sources, *service.pollers]]
    log.info("llm-cost-exporter %s (%s) listening on %s://%s/metrics with %d source(s): %s",
             __version__, PRICING_VERSION, servers[0].scheme, config.server.listen, len(names),
             ", ".join(names) or "none")
    if service.breaker is not None:
        log.info("breaker API on %s://%s/api/v1/breaker/ holding keys open for %.0fs per firing notification",
                 servers[-1].scheme, config.breaker.listen or config.server.listen, config.breaker.ttl)
    try:
        service.run()
    finally:
        for server in servers:
            server.stop()
        service.close()
        log.info("stopped; state saved to %s", config.state.path)
    return 0

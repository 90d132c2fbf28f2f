"""Replay events through the exporter's aggregator and write timestamped OpenMetrics.

Each scrape renders the same `CostCollector` that `serve` exposes, at a fixed step of
event time, so the samples are what a Prometheus scraping a live exporter every `step`
seconds would have stored. Only the sample names in `keep` are written, because rules
cannot read the others and every extra series costs time in promtool and Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from typing import BinaryIO

import orjson

from ..aggregation import Aggregator, SnapshotBuilder
from ..config.models import Config
from ..exposition import CostCollector
from ..exposition.collector import SourceStatus
from ..formats import make_parser
from ..ingest import RecordIngestor
from ..workloads.generator import Event

SOURCE_NAME = "backtest"
# Lines handed to the ingestor at a time.
INGEST_BATCH = 4096
# Seconds of event time between recomputations of the per-user spend quantiles. A live
# exporter recomputes them at most every 10 s of wall-clock time. Over a 24h window a
# 10-minute-old quantile differs little, and sorting every user's spend at every scrape
# would take a third of the replay.
USER_REFRESH_SECONDS = 600.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class OpenMetricsWriter:
    """Writes samples as `name{labels} value timestamp` lines; `close` adds `# EOF`.

    No `# TYPE` lines are written: a Prometheus TSDB stores no metric type, so samples
    of unknown type are stored under the same names as typed ones.
    """

    def __init__(self, out: BinaryIO, target_labels: dict[str, str]) -> None:
        self.out = out
        self.target_labels = target_labels
        self.samples = 0
        self._series_text: dict[tuple, str] = {}

    def write(self, name: str, labels: dict[str, str], value: float, timestamp: float) -> None:
        key = (name, *labels.items())
        series = self._series_text.get(key)
        if series is None:
            series = name + format_labels({**labels, **self.target_labels})
            self._series_text[key] = series
        self.out.write(f"{series} {format_value(value)} {timestamp:.3f}\n".encode())
        self.samples += 1

    def close(self) -> None:
        self.out.write(b"# EOF\n")
        self.out.flush()


class Replay:
    """Ingests events in event time and scrapes the exporter every `step` seconds into a writer.

    A scrape at time t includes every event with ts < t, after the aggregator has advanced its
    windows, budget periods and request closing to t, as a live exporter would. Each
    scrape also writes `up` = 1 for the target and the source's health, as `serve` does.
    """

    def __init__(self, config: Config, writer: OpenMetricsWriter, start: float, step: float,
                 keep: Collection[str], user_refresh: float = USER_REFRESH_SECONDS) -> None:
        self.aggregator = Aggregator(config)
        self.ingestor = RecordIngestor(SOURCE_NAME, make_parser("native", config.labels.attribution),
                                       self.aggregator)
        # The builder recomputes the per-user quantiles only when invalidated, which `scrape`
        # does every `user_refresh` seconds of event time.
        self.builder = SnapshotBuilder(lambda user: user, user_refresh=float("inf"))
        self.user_refresh = user_refresh
        self._users_at = float("-inf")
        self._snapshot = None
        self._scraped_at = start
        self.collector = CostCollector(lambda: self._snapshot, self._sources)
        self.writer = writer
        self.step = step
        self.keep = frozenset(keep)
        self.scrape_at = start
        self.pending: list[bytes] = []

    def _sources(self) -> dict[str, SourceStatus]:
        return {SOURCE_NAME: SourceStatus(up=True, last_success=self._scraped_at, errors={})}

    def scrape(self, at: float) -> None:
        if self.pending:
            self.ingestor.ingest(self.pending)
            self.pending.clear()
        self.aggregator.advance(wall_clock=at)
        if at - self._users_at >= self.user_refresh:
            self.builder.invalidate_users()
            self._users_at = at
        self._snapshot = self.builder.build(self.aggregator)
        self._scraped_at = at
        writer = self.writer
        keep = self.keep
        writer.write("up", {}, 1.0, at)
        for family in self.collector.collect():
            for sample in family.samples:
                if sample.name in keep:
                    writer.write(sample.name, sample.labels, sample.value, at)

    def run(self, events: Iterable[Event], end: float,
            checkpoints: Iterable[tuple[float, Callable[["Replay"], None]]] = ()) -> int:
        """Ingest `events` (in non-decreasing event time) and scrape up to `end`; return the samples written.

        Each checkpoint `(time, callback)` calls `callback(self)` once, before the first
        event at or after `time` is ingested and after every scrape before it. A callback
        may lower `self.end` to stop the replay earlier.
        """
        self.end = end
        checkpoints = sorted(checkpoints, key=lambda item: item[0])
        dumps = orjson.dumps
        pending = self.pending
        for ts, record in events:
            while checkpoints and ts >= checkpoints[0][0]:
                checkpoints.pop(0)[1](self)
            while ts >= self.scrape_at and self.scrape_at <= self.end:
                self.scrape(self.scrape_at)
                self.scrape_at += self.step
            if self.scrape_at > self.end:
                break
            record["ts"] = ts
            pending.append(dumps(record))
            if len(pending) >= INGEST_BATCH:
                self.ingestor.ingest(pending)
                pending.clear()
        while self.scrape_at <= self.end:
            self.scrape(self.scrape_at)
            self.scrape_at += self.step
        self.writer.close()
        return self.writer.samples


def replay_to_openmetrics(events: Iterable[Event], config: Config, out: BinaryIO, start: float, end: float,
                          step: float, keep: Collection[str], target_labels: dict[str, str]) -> int:
    """Replay `events` and write the scrapes from `start` to `end` to `out`; return the samples written."""
    replay = Replay(config, OpenMetricsWriter(out, target_labels), start, step, keep)
    return replay.run(events, end)

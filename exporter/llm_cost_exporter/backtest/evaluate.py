"""Evaluate a rule file over a backfilled period with Prometheus' own query engine.

Recording rules are evaluated level by level (see `RuleSet.levels`). Each level is a range
query per rule, stepped at its group's interval and aligned to multiples of it. Its
results are backfilled as the recorded series before the next level runs. A range query
evaluates the expression at each step exactly as an instant query at that time would. So
a rule reads what it would read in a live Prometheus, its inputs at the same evaluation time.
Alerting rules are range-queried the same way, and `for` and `keep_firing_for` are applied
to the result with the state machine of Prometheus' alerting rules.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import shutil
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .exposition import format_labels, format_value
from .prometheus import BacktestToolError, PrometheusServer, backfill
from .rules import Rule, RuleSet

log = logging.getLogger(__name__)


@dataclass
class Firing:
    """One firing of an alert series: from `start` until `end` (None while still firing at the end)."""

    alert: str
    labels: dict[str, str]
    start: float
    end: float | None = None

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass
class Evaluation:
    firings: list[Firing] = field(default_factory=list)
    # Seconds spent on each level and on the alerts, for the report.
    timings: dict[str, float] = field(default_factory=dict)

    def first_firings(self) -> dict[str, Firing]:
        """Return the earliest firing of each alert name."""
        first: dict[str, Firing] = {}
        for firing in sorted(self.firings, key=lambda f: (f.start, f.alert)):
            first.setdefault(firing.alert, firing)
        return first


def aligned_start(start: float, interval: float) -> float:
    """Return the first multiple of `interval` at or after `start`, when a group first evaluates."""
    return math.ceil(start / interval) * interval


def apply_for(rule: Rule, samples: dict[tuple, list[tuple[float, float]]], start: float,
              end: float) -> list[Firing]:
    """Turn the range-query result of an alert expression into firings.

    The states follow Prometheus' alerting rules. A series becomes pending at the first
    evaluation that returns it and fires at the first evaluation at least `for` after that.
    A pending series that is not returned is dropped. A firing series that is not returned
    keeps firing until `keep_firing_for` has passed since the first evaluation without it.
    """
    interval = rule.interval
    first = aligned_start(start, interval)
    steps = int(math.floor((end - first) / interval + 1e-9)) + 1
    firings: list[Firing] = []
    for key, values in without_name(samples).items():
        present = {round((t - first) / interval) for t, _ in values}
        labels = dict(key)
        labels.update(rule.labels)
        labels["alertname"] = rule.alert
        active_at: float | None = None
        absent_since: float | None = None
        current: Firing | None = None
        for index in range(steps):
            t = first + index * interval
            if index in present:
                absent_since = None
                if active_at is None:
                    active_at = t
                if current is None and t - active_at >= rule.for_seconds:
                    current = Firing(rule.alert, labels, t)
                    firings.append(current)
                continue
            if current is not None and rule.keep_firing_for_seconds > 0:
                if absent_since is None:
                    absent_since = t
                if t - absent_since < rule.keep_firing_for_seconds:
                    continue
            if current is not None:
                current.end = t
            current = None
            active_at = None
            absent_since = None
    return firings


def without_name(samples: dict[tuple, list[tuple[float, float]]]) -> dict[tuple, list[tuple[float, float]]]:
    """Merge series that differ only in `__name__`, which a rule's output replaces anyway.

    `a > b or c` returns a series with the name of `a` at some steps and without a name at
    others. In a live Prometheus both are the same recorded series.
    """
    merged: dict[tuple, list[tuple[float, float]]] = {}
    for key, values in samples.items():
        merged.setdefault(tuple(item for item in key if item[0] != "__name__"), []).extend(values)
    for values in merged.values():
        values.sort()
    return merged


def write_recorded(rule: Rule, samples: dict[tuple, list[tuple[float, float]]], outputs: list[BinaryIO],
                   boundaries: list[float]) -> int:
    """Write the results of a recording rule, each sample into the output of its time segment.

    Output i receives the samples at times t with boundaries[i-1] <= t < boundaries[i].
    """
    written = 0
    for key, values in without_name(samples).items():
        labels = dict(key)
        labels.update(rule.labels)
        series = rule.record + format_labels(labels)
        lines: list[list[str]] = [[] for _ in outputs]
        for t, v in values:
            lines[bisect_right(boundaries, t)].append(f"{series} {format_value(v)} {t:.3f}\n")
        for out, segment in zip(outputs, lines):
            if segment:
                out.write("".join(segment).encode())
        written += len(values)
    return written


def link_blocks(source: Path, data_dir: Path) -> None:
    """Hard-link the TSDB blocks in `source` into `data_dir`; blocks are immutable, so sharing them is safe."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for block in sorted(source.iterdir()):
        if block.is_dir() and (block / "meta.json").exists():
            shutil.copytree(block, data_dir / block.name, copy_function=os.link)


class SharedHistory:
    """The baseline's samples, recorded series and alert results, cut into segments at branch times.

    Segment i contains the times from boundaries[i-1] (inclusive) to boundaries[i]. A scenario
    that leaves the baseline at boundaries[k] links segments 0 to k into its own TSDB and
    evaluates the rules only from there on, because every result before its onset equals the
    baseline's.
    """

    def __init__(self, root: Path, boundaries: list[float]) -> None:
        self.root = root
        self.boundaries = sorted(boundaries)

    def segment_dir(self, kind: str, index: int) -> Path:
        return self.root / kind / f"segment{index}"

    def segments_before(self, boundary: float) -> int:
        """Return how many segments lie wholly before `boundary`, which must be one of the boundaries."""
        return self.boundaries.index(boundary) + 1

    def link_into(self, data_dir: Path, boundary: float) -> None:
        count = self.segments_before(boundary)
        for kind in sorted(path.name for path in self.root.iterdir() if path.is_dir()):
            for index in range(count):
                directory = self.segment_dir(kind, index)
                if directory.is_dir():
                    link_blocks(directory, data_dir)

    def save_alerts(self, results: dict[int, dict[tuple, list[tuple[float, float]]]]) -> None:
        (self.root / "alerts.pickle").write_bytes(pickle.dumps(results))

    def load_alerts(self, before: float) -> dict[int, dict[tuple, list[tuple[float, float]]]]:
        results = pickle.loads((self.root / "alerts.pickle").read_bytes())
        return {index: {key: [(t, v) for t, v in values if t < before] for key, values in samples.items()}
                for index, samples in results.items()}

    @property
    def ready_marker(self) -> Path:
        return self.root / "READY"

    @property
    def failed_marker(self) -> Path:
        return self.root / "FAILED"

    def wait_ready(self, poll_seconds: float = 0.5) -> None:
        """Block until the baseline has written its history; raise if it failed or exited."""
        while not self.ready_marker.exists():
            if self.failed_marker.exists():
                raise BacktestToolError(f"the baseline replay failed: {self.failed_marker.read_text()[-500:]}")
            if os.getppid() == 1:
                raise BacktestToolError("the baseline replay exited before writing its history")
            time.sleep(poll_seconds)


def evaluate_rules(ruleset: RuleSet, workdir: Path, data_dir: Path, start: float, end: float,
                   extra_queries: Callable[[PrometheusServer], None] | None = None,
                   resume_from: tuple[SharedHistory, float] | None = None,
                   share: SharedHistory | None = None) -> Evaluation:
    """Evaluate every rule of `ruleset` from `start` to `end` over the TSDB in `data_dir`.

    `extra_queries`, if given, runs against the final TSDB (with every recorded series)
    before Prometheus stops, for baselines and charts. With `resume_from` = (history, time),
    the TSDB already contains the history's segments before that time, and the rules are
    evaluated only from that time on. With `share`, the recorded series and alert results
    are also stored there by segment, for the scenarios that resume from them.
    """
    evaluation = Evaluation()
    evaluate_from = start
    if resume_from is not None:
        evaluate_from = resume_from[1]
    boundaries = share.boundaries if share is not None else []
    for number, level in enumerate(ruleset.levels(), start=1):
        began = time.monotonic()
        paths = [workdir / f"recorded-level{number}-segment{index}.om" for index in range(len(boundaries) + 1)]
        outputs = [open(path, "wb") for path in paths]
        samples_written = 0
        try:
            with PrometheusServer(workdir, data_dir) as server:
                for rule in level:
                    result = server.query_range(rule.expr, aligned_start(evaluate_from, rule.interval), end,
                                                rule.interval)
                    samples_written += write_recorded(rule, result, outputs, boundaries)
        finally:
            for out in outputs:
                out.write(b"# EOF\n")
                out.close()
        for index, path in enumerate(paths):
            if path.stat().st_size > len(b"# EOF\n"):
                if share is None:
                    backfill(path, data_dir)
                else:
                    segment = share.segment_dir(f"level{number}", index)
                    backfill(path, segment)
                    link_blocks(segment, data_dir)
            path.unlink()
        evaluation.timings[f"level {number}"] = time.monotonic() - began
        log.info("recording level %d: %d rules, %d samples in %.1f s", number, len(level), samples_written,
                 evaluation.timings[f"level {number}"])

    began = time.monotonic()
    earlier = resume_from[0].load_alerts(evaluate_from) if resume_from is not None else {}
    shared_alerts: dict[int, dict[tuple, list[tuple[float, float]]]] = {}
    with PrometheusServer(workdir, data_dir) as server:
        for rule in ruleset.alerting:
            result = server.query_range(rule.expr, aligned_start(evaluate_from, rule.interval), end, rule.interval)
            if share is not None:
                shared_alerts[rule.index] = result
            for key, values in earlier.get(rule.index, {}).items():
                result[key] = values + result.get(key, [])
            evaluation.firings.extend(apply_for(rule, result, start, end))
        if extra_queries is not None:
            extra_queries(server)
    if share is not None:
        share.save_alerts(shared_alerts)
    evaluation.timings["alerts"] = time.monotonic() - began
    return evaluation

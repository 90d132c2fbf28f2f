"""Evaluate a rule file over a backfilled period with Prometheus' own query engine.

Recording rules are evaluated level by level (see `RuleSet.levels`): each level is a range
query per rule, stepped at its group's interval and aligned to multiples of it, whose
results are backfilled as the recorded series before the next level runs. A range query
evaluates the expression at each step exactly as an instant query at that time would, so
a rule sees what it would see in a live Prometheus: its inputs at the same evaluation time.
Alerting rules are range-queried the same way, and `for` and `keep_firing_for` are applied
to the result with the state machine of Prometheus' alerting rules.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .exposition import format_labels, format_value
from .prometheus import PrometheusServer, backfill
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
        """The earliest firing of each alert name."""
        first: dict[str, Firing] = {}
        for firing in sorted(self.firings, key=lambda f: (f.start, f.alert)):
            first.setdefault(firing.alert, firing)
        return first


def aligned_start(start: float, interval: float) -> float:
    """The first multiple of `interval` at or after `start`: when a group first evaluates."""
    return math.ceil(start / interval) * interval


def apply_for(rule: Rule, samples: dict[tuple, list[tuple[float, float]]], start: float,
              end: float) -> list[Firing]:
    """Turn the range-query result of an alert expression into firings.

    As Prometheus does: a series becomes pending at the first evaluation that returns it and
    fires at the first evaluation at least `for` after that; a pending series that is not
    returned is dropped; a firing series that is not returned keeps firing until
    `keep_firing_for` has passed since the first evaluation that did not return it.
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
    others; in a live Prometheus both are the same recorded series.
    """
    merged: dict[tuple, list[tuple[float, float]]] = {}
    for key, values in samples.items():
        merged.setdefault(tuple(item for item in key if item[0] != "__name__"), []).extend(values)
    for values in merged.values():
        values.sort()
    return merged


def write_recorded(rule: Rule, samples: dict[tuple, list[tuple[float, float]]], out) -> int:
    written = 0
    for key, values in without_name(samples).items():
        labels = dict(key)
        labels.update(rule.labels)
        series = rule.record + format_labels(labels)
        out.write("".join(f"{series} {format_value(v)} {t:.3f}\n" for t, v in values).encode())
        written += len(values)
    return written


def evaluate_rules(ruleset: RuleSet, workdir: Path, data_dir: Path, start: float, end: float,
                   extra_queries: Callable[[PrometheusServer], None] | None = None) -> Evaluation:
    """Evaluate every rule of `ruleset` from `start` to `end` over the TSDB in `data_dir`.

    `extra_queries`, if given, runs against the final TSDB (with every recorded series)
    before Prometheus stops, for baselines and charts.
    """
    evaluation = Evaluation()
    for number, level in enumerate(ruleset.levels(), start=1):
        began = time.monotonic()
        path = workdir / f"recorded-level{number}.om"
        samples_written = 0
        with PrometheusServer(workdir, data_dir) as server, open(path, "wb") as out:
            for rule in level:
                result = server.query_range(rule.expr, aligned_start(start, rule.interval), end, rule.interval)
                samples_written += write_recorded(rule, result, out)
            out.write(b"# EOF\n")
        if samples_written:
            backfill(path, data_dir)
        path.unlink()
        evaluation.timings[f"level {number}"] = time.monotonic() - began
        log.info("recording level %d: %d rules, %d samples in %.1f s", number, len(level), samples_written,
                 evaluation.timings[f"level {number}"])

    began = time.monotonic()
    with PrometheusServer(workdir, data_dir) as server:
        for rule in ruleset.alerting:
            result = server.query_range(rule.expr, aligned_start(start, rule.interval), end, rule.interval)
            evaluation.firings.extend(apply_for(rule, result, start, end))
        if extra_queries is not None:
            extra_queries(server)
    evaluation.timings["alerts"] = time.monotonic() - began
    return evaluation

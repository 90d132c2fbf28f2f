"""Bucket accounting for vendor usage and cost reports, which revise recent buckets after the fact.

Each poll re-reads every bucket that is not settled yet and replaces that bucket's contribution to
each series. A series' value is the sum of its settled part and of the open buckets' contributions,
so a bucket revised from 10 to 15 adds 5, and a bucket read twice unchanged adds nothing. Buckets
that end at or before `settled_until` are folded into the settled part and never read again.

Counters must not go down. A bucket revised downward lowers the computed value; the exposed value
then stays at its maximum until the computed value passes it again, and the revision is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(metric family name, ordered (label, value) pairs)."""


def series(family: str, **labels: str) -> SeriesKey:
    return family, tuple(labels.items())


@dataclass
class Bucket:
    """One time bucket as a vendor reported it: [start, end) in Unix seconds and its value per series."""

    start: float
    end: float
    values: dict[SeriesKey, float] = field(default_factory=dict)

    def add(self, key: SeriesKey, value: float) -> None:
        self.values[key] = self.values.get(key, 0.0) + value


class BucketLedger:
    def __init__(self) -> None:
        self.settled: dict[SeriesKey, float] = {}
        self.open: dict[float, Bucket] = {}
        self.exposed: dict[SeriesKey, float] = {}
        self.settled_until: float | None = None
        self.data_end: float | None = None

    def window_start(self, now: float, lookback: float, width: float) -> float:
        """Start of the next read: the first unsettled bucket, at most `lookback` before `now`,
        aligned to `width` (UTC midnight for daily buckets)."""
        start = floor_to(now - lookback, width)
        if self.settled_until is not None:
            start = min(start, self.settled_until)
        return start

    def apply(self, buckets: Iterable[Bucket], now: float) -> list[SeriesKey]:
        """Replace the contribution of every bucket read; return the series revised downward."""
        merged: dict[float, Bucket] = {}
        for bucket in buckets:
            if self.settled_until is not None and bucket.end <= self.settled_until:
                continue  # settled already; counting it again would double it
            target = merged.setdefault(bucket.start, Bucket(bucket.start, bucket.end))
            target.end = max(target.end, bucket.end)
            for key, value in bucket.values.items():
                target.add(key, value)
            if bucket.end <= now:
                self.data_end = max(self.data_end or bucket.end, bucket.end)
        touched: set[SeriesKey] = set()
        for start, bucket in merged.items():
            previous = self.open.get(start)
            if previous is not None:
                touched.update(previous.values)
            touched.update(bucket.values)
            self.open[start] = bucket
        return self._recompute(touched)

    def settle(self, until: float) -> None:
        """Fold buckets that end at or before `until` into the settled part; they are never read again."""
        if self.settled_until is not None and until <= self.settled_until:
            return
        for start in sorted(start for start, bucket in self.open.items() if bucket.end <= until):
            for key, value in self.open.pop(start).values.items():
                self.settled[key] = self.settled.get(key, 0.0) + value
        self.settled_until = until

    def _recompute(self, keys: Iterable[SeriesKey]) -> list[SeriesKey]:
        parts: dict[SeriesKey, list[float]] = {key: [self.settled.get(key, 0.0)] for key in keys}
        for _, bucket in sorted(self.open.items()):
            for key, value in bucket.values.items():
                if key in parts:
                    parts[key].append(value)
        lowered = []
        for key, values in parts.items():
            truth = math.fsum(values)
            current = self.exposed.get(key)
            if current is not None and truth < current:
                lowered.append(key)
                continue
            self.exposed[key] = truth
        return lowered

    def export(self) -> dict:
        return {"settled_until": self.settled_until, "data_end": self.data_end,
                "settled": _encode(self.settled), "exposed": _encode(self.exposed),
                "open": [[bucket.start, bucket.end, _encode(bucket.values)]
                         for _, bucket in sorted(self.open.items())]}

    @classmethod
    def restore(cls, state: dict) -> BucketLedger:
        ledger = cls()
        ledger.settled_until = state.get("settled_until")
        ledger.data_end = state.get("data_end")
        ledger.settled = _decode(state.get("settled", []))
        ledger.exposed = _decode(state.get("exposed", []))
        for start, end, values in state.get("open", []):
            ledger.open[start] = Bucket(start, end, _decode(values))
        return ledger


def floor_to(moment: float, width: float) -> float:
    return float(math.floor(moment / width) * width)


def _encode(table: dict[SeriesKey, float]) -> list:
    return [[family, [list(pair) for pair in labels], value] for (family, labels), value in sorted(table.items())]


def _decode(rows: list) -> dict[SeriesKey, float]:
    return {(family, tuple((name, value) for name, value in labels)): float(number) for family, labels, number in rows}

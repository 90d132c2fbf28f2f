"""The shared machinery of vendor pollers: scheduling, one ledger per report stream, health and exposition.

A poller has one or more streams (for example OpenAI completions usage, embeddings usage and costs).
Each stream reads a window of buckets through `fetch(start, end)` and applies it to its own ledger.
A stream's read is all or nothing: an error on any page leaves its ledger as it was, so the next
poll reads the same window again and nothing is counted twice or lost.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import Metric

from .collector import COST, counter_families, data_end_family
from .errors import VendorError
from .ledger import Bucket, BucketLedger, SeriesKey, floor_to

log = logging.getLogger(__name__)

FAILED_POLL_RETRY = 60.0
"""Minimum seconds after a failed poll before the next one. The wait is a sixth of the interval when that is
longer (one hour for Cost Explorer's six, whose requests are billed), and never more than the interval."""

REPEAT_LOG_EVERY = 10
"""A failure that repeats unchanged is logged again only every this many polls; the error counter counts each."""


@dataclass
class Stream:
    """One report of a vendor: its bucket width and a `fetch(start, end)` that returns its buckets."""

    name: str
    width: float
    lookback: float
    fetch: Callable[[float, float], Iterable[Bucket]]
    ledger: BucketLedger


@dataclass(frozen=True)
class Hooks:
    """Replaceable dependencies of a poller: the wait between retries and the random source of jitter."""

    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = None


class StreamPoller:
    """Implements the VendorPoller contract over a list of streams built by a subclass."""

    def __init__(self, config, hooks: Hooks | None = None) -> None:
        self.config = config
        self.name: str = config.name
        self.provider: str = config.provider
        self.hooks = hooks or Hooks()
        self.up = False
        self.last_success: float | None = None
        self.errors: dict[str, float] = {}
        self.streams: list[Stream] = []
        self._next_due = 0.0
        self._failures: dict[str, tuple[str, int]] = {}
        self._published: tuple[dict[SeriesKey, float], float | None] = ({}, None)

    def count_error(self, error_class: str) -> None:
        # Replaced, not updated in place: the HTTP thread may be copying the dict for a scrape.
        self.errors = {**self.errors, error_class: self.errors.get(error_class, 0.0) + 1}

    def add_stream(self, name: str, width: float, lookback: float,
                   fetch: Callable[[float, float], Iterable[Bucket]]) -> None:
        self.streams.append(Stream(name, width, lookback, fetch, BucketLedger()))

    # --- the VendorPoller contract ---------------------------------------------------

    def due(self, now: float) -> bool:
        return now >= self._next_due

    def poll(self, now: float) -> None:
        """Read every stream once; a failed stream is logged, counted and read again next time."""
        failed = False
        for stream in self.streams:
            try:
                self.poll_stream(stream, now)
            except VendorError as err:
                failed = True
                if not err.counted:
                    self.count_error(err.error_class)  # the HTTP client counts its own errors per attempt
                self._log_failure(stream, f"({err.error_class}): {err}")
            except Exception as err:  # a bug or a shape no check foresaw must not stop the exporter
                failed = True
                self.count_error("invalid_response")
                # Only the type and place are logged: an unexpected message could quote a header or a body.
                frame = traceback.extract_tb(err.__traceback__)[-1]
                self._log_failure(stream, f"with {type(err).__name__} at "
                                  f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}")
            else:
                self._log_recovery(stream)
        self.up = not failed
        if failed:
            self._next_due = now + min(self.config.interval, max(FAILED_POLL_RETRY, self.config.interval / 6))
        else:
            self.last_success = now
            self._next_due = now + self.config.interval

    def _log_failure(self, stream: Stream, reason: str) -> None:
        """Log a failure when it first happens or changes, then every REPEAT_LOG_EVERY-th repeat."""
        previous, count = self._failures.get(stream.name, ("", 0))
        count = count + 1 if reason == previous else 1
        self._failures[stream.name] = (reason, count)
        if count == 1:
            log.error("source %s: reading %s failed %s", self.name, stream.name, reason)
        elif count % REPEAT_LOG_EVERY == 0:
            log.error("source %s: reading %s still failing after %d polls %s", self.name, stream.name, count, reason)

    def _log_recovery(self, stream: Stream) -> None:
        previous = self._failures.pop(stream.name, None)
        if previous is not None:
            log.info("source %s: reading %s succeeded again after %d failed poll(s)", self.name, stream.name,
                     previous[1])

    def poll_stream(self, stream: Stream, now: float) -> None:
        ledger = stream.ledger
        start = ledger.window_start(now, stream.lookback, stream.width)
        buckets = list(stream.fetch(start, now))
        lowered = ledger.apply(buckets, now)
        for key in lowered:
            log.warning("source %s: %s revised %s %s downward; the counter keeps its value until the vendor's "
                        "total passes it again", self.name, stream.name, key[0], dict(key[1]))
        ledger.settle(floor_to(now - stream.lookback, stream.width))
        log.debug("source %s: read %d bucket(s) of %s from %s", self.name, len(buckets), stream.name,
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)))

    def export_state(self) -> dict:
        # The schedule and health are saved too: a restart neither repeats a billed Cost Explorer read
        # nor reports a source as down until its next poll, which may be hours away.
        return {"streams": {stream.name: stream.ledger.export() for stream in self.streams},
                "next_due": self._next_due, "up": self.up, "last_success": self.last_success}

    def restore(self, state: dict) -> None:
        self._next_due = min(float(state.get("next_due") or 0.0), time.time() + self.config.interval)
        self.up = bool(state.get("up", False))
        self.last_success = state.get("last_success")
        saved = state.get("streams", {})
        for stream in self.streams:
            if stream.name in saved:
                stream.ledger = BucketLedger.restore(saved[stream.name])

    def publish(self) -> None:
        totals: dict[SeriesKey, float] = {}
        for stream in self.streams:
            for key, value in stream.ledger.exposed.items():
                totals[key] = totals.get(key, 0.0) + value
        ends = [stream.ledger.data_end for stream in self.streams if stream.ledger.data_end is not None]
        self._published = (copy.copy(totals), max(ends) if ends else None)

    def collect(self) -> Iterator[Metric]:
        totals, data_end = self._published
        yield from counter_families(totals)
        yield data_end_family(self.provider, self.name, data_end)

    def close(self) -> None:
        pass

    def cost_between(self, start: float, end: float) -> float | None:
        """Return the vendor's cost in USD of the complete buckets in [start, end), or None without a cost report.
        Reads the API directly and leaves the ledger untouched."""
        stream = next((stream for stream in self.streams if stream.name == "costs"), None)
        if stream is None:
            return None
        values = [value for bucket in stream.fetch(start, end) if bucket.start >= start and bucket.end <= end
                  for (family, _), value in bucket.values.items() if family == COST]
        return math.fsum(values)

    def totals(self) -> dict[SeriesKey, float]:
        """Return the published totals that `collect` renders as counters."""
        return dict(self._published[0])


def label_value(value: object, null: str = "none") -> str:
    """Map a vendor dimension to a label value: null and "" become `null`, booleans become true/false."""
    if value is None or value == "":
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def number(value: object, field: str, where: str) -> float:
    """Return a finite, non-negative number from a vendor field (null counts as 0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise VendorError("invalid_response", f"{where}: field {field} is {value!r}, expected a number >= 0")
    return float(value)

"""Records to the aggregator: parse, count accepted and rejected, ingest."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import partial

from .aggregation import Aggregator
from .formats import Parser, RecordRejected
from .formats.base import REJECT_REASONS
from .formats.base import parse_batch as formats_parse_batch

log = logging.getLogger(__name__)

# Events handed to the aggregator at a time: large enough to amortize its setup, small enough
# that the events stay in the CPU caches.
SUB_BATCH = 64

# Bytes of a rejected record quoted in its log line.
EXCERPT_BYTES = 120

# At most this many rejections per source are logged in full; the rest only counted.
LOGGED_REJECTIONS = 20


class RecordIngestor:
    """Feeds one source's raw records through its parser into the aggregator."""

    def __init__(self, source: str, parser: Parser, aggregator: Aggregator, max_record_bytes: int = 1 << 20) -> None:
        self.source = source
        self.parser = parser
        self.aggregator = aggregator
        self.max_record_bytes = max_record_bytes
        self.logged_rejections = 0
        aggregator.register_source(source, REJECT_REASONS)

    def ingest(self, records: Iterable[bytes], origin: str = "", line_numbers: list[int] | None = None) -> int:
        """Ingest `records` and return how many were accepted.

        `origin` (a file name) and `line_numbers` (one per record) only make the log line
        of a rejected record point at where it came from.
        """
        records = records if isinstance(records, list) else list(records)
        parse_batch = getattr(self.parser, "parse_batch", None)
        if parse_batch is None:
            parse_batch = partial(formats_parse_batch, self.parser.parse)
        arrival = time.monotonic()
        accepted = 0
        rejected: list[RecordRejected] = []
        for start in range(0, len(records), SUB_BATCH):
            events, count = parse_batch(records[start:start + SUB_BATCH], self.max_record_bytes, rejected)
            self.aggregator.ingest_batch(events, arrival)
            accepted += count
        self.aggregator.count_accepted(self.source, accepted)
        for rejection in rejected:
            self._reject(rejection, records, origin, line_numbers)
        return accepted

    def _reject(self, rejection: RecordRejected, records: list[bytes], origin: str,
                line_numbers: list[int] | None) -> None:
        self.aggregator.count_event(self.source, False, rejection.reason)
        self.logged_rejections += 1
        if self.logged_rejections > LOGGED_REJECTIONS:
            return
        where = origin
        if line_numbers is not None and rejection.record is not None:
            index = next((i for i, record in enumerate(records) if record is rejection.record), None)
            if index is not None:
                where = f"{origin} line {line_numbers[index]}" if origin else f"line {line_numbers[index]}"
        excerpt = (rejection.record or b"")[:EXCERPT_BYTES].decode("utf-8", "replace")
        log.warning("source %s: rejected a record%s: %s: %r", self.source, f" at {where}" if where else "",
                    rejection, excerpt)
        if self.logged_rejections == LOGGED_REJECTIONS:
            log.warning("source %s: further rejections are only counted in "
                        "llm_exporter_events_rejected_total", self.source)

"""Records to the aggregator: parse, count accepted and rejected, ingest."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from .aggregation import Aggregator
from .formats import Parser, RecordRejected

log = logging.getLogger(__name__)

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

    def ingest(self, records: Iterable[bytes]) -> int:
        """Ingest `records` and return how many were accepted."""
        aggregator = self.aggregator
        parse = self.parser.parse
        source = self.source
        limit = self.max_record_bytes
        arrival = time.monotonic()
        accepted = 0
        for record in records:
            try:
                if len(record) > limit:
                    raise RecordRejected("oversized_line", f"{len(record)} bytes, more than the limit of {limit}")
                events = parse(record)
            except RecordRejected as rejection:
                self._reject(rejection)
                continue
            for event in events:
                aggregator.ingest(event, arrival)
            aggregator.count_event(source, True)
            accepted += 1
        return accepted

    def _reject(self, rejection: RecordRejected) -> None:
        self.aggregator.count_event(self.source, False, rejection.reason)
        self.logged_rejections += 1
        if self.logged_rejections <= LOGGED_REJECTIONS:
            log.warning("source %s: rejected a record: %s", self.source, rejection)
            if self.logged_rejections == LOGGED_REJECTIONS:
                log.warning("source %s: further rejections are only counted in "
                            "llm_exporter_events_rejected_total", self.source)

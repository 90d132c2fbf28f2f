"""Read the log events of a CloudWatch Logs group, one record per event, with checkpointable positions.

FilterLogEvents returns events sorted by timestamp (then ingestion time and request id) and
pages through them with `nextToken`. Positions are the newest event timestamp read and the ids
of the events read within `lookback` before it. Each search starts `lookback` before the newest
timestamp and skips the ids already read. So an event ingested late with a slightly older
timestamp is read once, and a restart repeats no event. An event older than `lookback` at the
time it is ingested is missed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..config.sources import CloudWatchLogsSourceConfig
from .aws import aws_error_class, make_client

log = logging.getLogger(__name__)

AWS_ERRORS = (BotoCoreError, ClientError)
PAGE_LIMIT = 10_000  # the FilterLogEvents maximum


class CloudWatchLogsSource:
    """A record source over the events of `config.log_group`.

    `client` is a boto3 CloudWatch Logs client, built from the config when None. `clock` is a
    monotonic clock for the poll interval, and `wall_clock` the Unix time used by start_at end.
    """

    def __init__(
        self,
        config: CloudWatchLogsSourceConfig,
        positions: dict | None = None,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self.config = config
        self.name = config.name
        self.client = client or make_client("logs", config)
        self._clock = clock
        self._page_limit = page_limit
        saved = positions or {}
        self.newest: int | None = saved.get("newest")  # Unix milliseconds
        self.seen: dict[str, int] = dict(saved.get("seen", {}))  # event id -> timestamp in ms
        self.floor: int = saved.get("floor", 0)  # no search starts before it (start_at end)
        if positions is None and config.start_at == "end":
            self.newest = self.floor = int(wall_clock() * 1000)
        self._lookback_ms = int(config.lookback * 1000)
        self._token: str | None = None
        self._search_start = 0
        self._next_poll = float("-inf")
        # Error counts are checkpointed, so llm_exporter_source_errors_total survives restarts.
        self.errors: dict[str, float] = dict(saved.get("errors", {}))
        self.up = True
        self.last_success: float | None = None

    def poll(self, max_bytes: int = 8 << 20) -> list[bytes]:
        """Return the messages of events not read before (up to about `max_bytes`)."""
        if self._token is None and self._clock() < self._next_poll:
            return []
        lines: list[bytes] = []
        budget = max_bytes
        try:
            if self._token is None:
                start = self.newest - self._lookback_ms if self.newest is not None else 0
                self._search_start = max(self.floor, start)
            while budget > 0:
                response = self.client.filter_log_events(**self._request())
                for event in response.get("events", []):
                    budget -= self._accept(event, lines)
                self._forget_old_ids()
                token = response.get("nextToken")
                if not token or token == self._token:
                    self._token = None
                    self._finish_search()
                    break
                self._token = token
        except AWS_ERRORS as err:
            self._error(err)
            return lines
        self.up = True
        self.last_success = time.time()
        return lines

    def _request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"logGroupName": self.config.log_group, "startTime": self._search_start,
                                   "limit": self._page_limit}
        if self.config.log_stream_prefix:
            request["logStreamNamePrefix"] = self.config.log_stream_prefix
        if self.config.filter_pattern:
            request["filterPattern"] = self.config.filter_pattern
        if self._token:
            request["nextToken"] = self._token
        return request

    def _accept(self, event: dict[str, Any], lines: list[bytes]) -> int:
        event_id = event.get("eventId")
        timestamp = event.get("timestamp")
        if not isinstance(event_id, str) or not isinstance(timestamp, int) or event_id in self.seen:
            return 0
        self.seen[event_id] = timestamp
        if self.newest is None or timestamp > self.newest:
            self.newest = timestamp
        message = event.get("message", "").rstrip("\r\n").encode()
        if message.strip():
            lines.append(message)
        return len(message) + 1

    def _finish_search(self) -> None:
        self._next_poll = self._clock() + self.config.poll_interval

    def _forget_old_ids(self) -> None:
        """Forget the ids that no search can return again: searches start `lookback` before the newest event."""
        if self.newest is None:
            return
        oldest = self.newest - self._lookback_ms
        self.seen = {event_id: ts for event_id, ts in self.seen.items() if ts >= oldest}

    def _error(self, err: Exception) -> None:
        error_class = aws_error_class(err)
        self.errors[error_class] = self.errors.get(error_class, 0.0) + 1.0
        if self.up:
            log.error("source %s: reading log group %s failed: %s; retrying at the next poll",
                      self.name, self.config.log_group, err)
        self.up = False
        self._token = None
        self._next_poll = self._clock() + self.config.poll_interval

    def positions(self) -> dict:
        return {"newest": self.newest, "floor": self.floor, "seen": dict(self.seen), "errors": dict(self.errors)}

    def close(self) -> None:
        pass

"""Read JSON lines from the S3 objects under a prefix, in key order, with checkpointable positions.

Objects are treated as immutable log files that appear over time, such as Bedrock's invocation
logs under `<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/`.
Keys are read in S3's listing order (ascending UTF-8 bytes), which is time order when the keys
carry the date, as Bedrock's do. A gzip object (by its `.gz` name, its Content-Encoding or its
first bytes) is decompressed.

Positions: `watermark` is a key at or below which every object is done. `done` maps the keys
above it already read to their LastModified time. `current` is the object being read and the
offset (decompressed bytes) of its first line not yet returned, so a restart continues in the
middle of an object. Listings start after the watermark, so an object whose key sorts before
keys already read is still found if it appears within `SETTLE_SECONDS` of them, because the
watermark only passes keys older than that.
"""

from __future__ import annotations

import fnmatch
import gzip
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..config.sources import S3SourceConfig
from .aws import aws_error_class, make_client
from .lines import split_lines

log = logging.getLogger(__name__)

SETTLE_SECONDS = 3600.0
LIST_PAGE_SIZE = 1000  # the ListObjectsV2 maximum
READ_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

AWS_ERRORS = (BotoCoreError, ClientError)


@dataclass
class _Cursor:
    key: str
    last_modified: float
    offset: int = 0
    skipping: bool = False
    stream: Any = None
    pending: bytes = b""


class S3Source:
    """A record source over the objects of `config.bucket` under `config.prefix`.

    `client` is a boto3 S3 client, built from the config when None. `clock` is a monotonic clock
    for the listing interval, and `wall_clock` the Unix time that LastModified is compared with.
    """

    def __init__(
        self,
        config: S3SourceConfig,
        positions: dict | None = None,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        self.config = config
        self.name = config.name
        self.client = client or make_client("s3", config)
        self._clock = clock
        self._wall_clock = wall_clock
        self._page_size = page_size
        self._exclude = config.excluded_keys
        saved = positions or {}
        self.watermark: str = saved.get("watermark") or ""
        self.done: dict[str, float] = dict(saved.get("done", {}))
        current = saved.get("current")
        self.current: _Cursor | None = None
        if current:
            self.current = _Cursor(current["key"], current.get("last_modified", 0.0), current["offset"],
                                   current.get("skipping", False))
        self._skip_existing = positions is None and config.start_at == "end"
        self._queue: deque[tuple[str, float]] = deque()
        self._next_listing = float("-inf")
        # Error counts are checkpointed, so llm_exporter_source_errors_total survives restarts.
        self.errors: dict[str, float] = dict(saved.get("errors", {}))
        self.up = True
        self.last_success: float | None = None

    # --- polling ---------------------------------------------------------------------

    def poll(self, max_bytes: int = 8 * READ_BYTES) -> list[bytes]:
        """Return the lines read since the last poll (up to about `max_bytes`)."""
        lines: list[bytes] = []
        if not self.up and self._clock() < self._next_listing:
            return lines  # after a failure, wait one poll interval before the next request
        try:
            if self.current is None and not self._queue and self._clock() >= self._next_listing:
                self._list()
            budget = max_bytes
            while budget > 0:
                if self.current is None:
                    if not self._queue:
                        break
                    key, last_modified = self._queue.popleft()
                    self.current = _Cursor(key, last_modified)
                budget -= self._read(self.current, lines, budget)
        except AWS_ERRORS as err:
            self._error(err)
            self._close_stream()
            return lines
        self.up = True
        self.last_success = time.time()
        return lines

    def _list(self) -> None:
        """Queue the keys after the watermark that are neither done nor excluded, in key order."""
        request = {"Bucket": self.config.bucket, "Prefix": self.config.prefix, "MaxKeys": self._page_size}
        if self.watermark:
            request["StartAfter"] = self.watermark
        queued = []
        while True:
            response = self.client.list_objects_v2(**request)
            for item in response.get("Contents", []):
                key = item["Key"]
                if key.endswith("/") or key in self.done or any(fnmatch.fnmatchcase(key, p) for p in self._exclude):
                    continue
                if self.current is not None and key == self.current.key:
                    continue
                queued.append((key, item["LastModified"].timestamp()))
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                break
            request["ContinuationToken"] = token
        if self._skip_existing:
            for key, last_modified in queued:
                self.done[key] = last_modified
            log.info("source %s: start_at end: skipping %d existing objects", self.name, len(queued))
            self._skip_existing = False
            queued = []
        self._queue.extend(queued)
        self._next_listing = self._clock() + self.config.poll_interval
        self._advance_watermark()

    def _read(self, cursor: _Cursor, lines: list[bytes], budget: int) -> int:
        if cursor.stream is None:
            if not self._open(cursor):
                self._finish(cursor)
                return 0
        requested = max(budget, self.config.max_line_bytes + 1)
        fresh = _read_up_to(cursor.stream, requested)
        final = len(fresh) < requested
        data = cursor.pending + fresh
        before = cursor.offset
        split_lines(cursor, data, lines, self.config.max_line_bytes, final)
        cursor.pending = data[cursor.offset - before:]
        if final:
            self._finish(cursor)
        return max(len(fresh), 1)

    def _open(self, cursor: _Cursor) -> bool:
        """Open the object at the cursor's offset; return False when it no longer exists."""
        try:
            response = self.client.get_object(Bucket=self.config.bucket, Key=cursor.key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                log.warning("source %s: s3://%s/%s was deleted before it was read; skipping it",
                            self.name, self.config.bucket, cursor.key)
                return False
            raise
        body = response["Body"]
        head = body.read(2)
        stream: Any = _Prepended(head, body)
        if cursor.key.endswith(".gz") or response.get("ContentEncoding") == "gzip" or head == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream)
        skipped = 0
        while skipped < cursor.offset:
            chunk = stream.read(min(READ_BYTES, cursor.offset - skipped))
            if not chunk:
                break
            skipped += len(chunk)
        if cursor.offset:
            log.info("source %s: resuming s3://%s/%s at byte %d", self.name, self.config.bucket, cursor.key,
                     cursor.offset)
        cursor.stream = stream
        cursor.pending = b""
        return True

    def _finish(self, cursor: _Cursor) -> None:
        self._close_stream()
        self.done[cursor.key] = cursor.last_modified
        self.current = None
        self._advance_watermark()

    def _advance_watermark(self) -> None:
        """Move the watermark over done keys older than the settle time, in key order."""
        settled_before = self._wall_clock() - SETTLE_SECONDS
        waiting = [key for key, _ in self._queue]
        if self.current is not None:
            waiting.append(self.current.key)
        first_waiting = min(waiting) if waiting else None
        for key in sorted(self.done):
            if self.done[key] > settled_before or (first_waiting is not None and key > first_waiting):
                break
            self.watermark = max(self.watermark, key)
            del self.done[key]

    def _close_stream(self) -> None:
        if self.current is not None and self.current.stream is not None:
            self.current.stream.close()
            self.current.stream = None
            self.current.pending = b""

    def _error(self, err: Exception) -> None:
        error_class = aws_error_class(err)
        self.errors[error_class] = self.errors.get(error_class, 0.0) + 1.0
        if self.up:
            log.error("source %s: reading s3://%s/%s failed: %s; retrying at the next poll",
                      self.name, self.config.bucket, self.config.prefix, err)
        self.up = False
        self._next_listing = self._clock() + self.config.poll_interval

    # --- checkpoints -----------------------------------------------------------------

    def positions(self) -> dict:
        current = None
        if self.current is not None:
            current = {"key": self.current.key, "last_modified": self.current.last_modified,
                       "offset": self.current.offset, "skipping": self.current.skipping}
        return {"watermark": self.watermark, "done": dict(self.done), "current": current,
                "errors": dict(self.errors)}

    def close(self) -> None:
        self._close_stream()


def _read_up_to(stream: Any, size: int) -> bytes:
    """Read `size` bytes, or fewer only at the end of the stream."""
    parts = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


class _Prepended:
    """A readable stream that returns `head` before the rest of `body`."""

    def __init__(self, head: bytes, body: Any) -> None:
        self._head = head
        self._body = body

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data, self._head = self._head + self._body.read(), b""
            return data
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._body.read(size - len(data))
            return data
        return self._body.read(size)

    def close(self) -> None:
        self._body.close()

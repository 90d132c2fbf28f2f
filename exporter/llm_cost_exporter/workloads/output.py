"""Writing generated records as native log lines, in batch or paced in wall-clock time."""

from __future__ import annotations

import time
from itertools import islice
from typing import BinaryIO, Callable, Iterable, Iterator

import orjson

from .generator import Event
from .timestamps import TimestampFormatter

BATCH_LINES = 4096
# Maximum sleep of the live loop, so the loop notices a stop request within this many seconds.
LIVE_TICK_SECONDS = 0.1


def write_events(events: Iterable[Event], out: BinaryIO, limit: int | None = None) -> int:
    """Write records as JSON lines, at most `limit` of them; return the number written."""
    if limit is not None:
        events = islice(events, limit)
    format_ts = TimestampFormatter()
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    batch: list[bytes] = []
    written = 0
    for ts, record in events:
        record["ts"] = format_ts(ts)
        batch.append(dumps(record, option=option))
        if len(batch) >= BATCH_LINES:
            out.write(b"".join(batch))
            written += len(batch)
            batch.clear()
    out.write(b"".join(batch))
    written += len(batch)
    out.flush()
    return written


def write_live(
    events: Iterator[Event],
    out: BinaryIO,
    rate: float,
    duration: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    wall_clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write `rate` records per second of wall-clock time, stamped with the current time.

    Record i (from 0) is written once i / rate seconds have passed and gets that instant
    as its ts, so timestamps are evenly spaced and never ahead of the clock. The batch
    due at each tick is written and flushed together. Stops after `duration` seconds
    (having written duration * rate records, rounded down) or when `should_stop()`
    returns true. Returns the number of records written.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    format_ts = TimestampFormatter()
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    start_wall = wall_clock()
    start = monotonic()
    written = 0
    while not should_stop():
        elapsed = monotonic() - start
        finished = duration is not None and elapsed >= duration
        if finished:
            elapsed = duration
        due = int(elapsed * rate)
        batch = []
        for _ts, record in islice(events, due - written):
            record["ts"] = format_ts(start_wall + written / rate)
            batch.append(dumps(record, option=option))
            written += 1
        if batch:
            out.write(b"".join(batch))
            out.flush()
        if finished:
            break
        until_next = (written + 1) / rate - (monotonic() - start)
        sleep(min(max(until_next, 0.001), LIVE_TICK_SECONDS))
    return written

"""RFC 3339 parsing and formatting in UTC, as the native log format writes `ts`."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)


def parse_rfc3339_micros(text: str) -> int:
    """Parse an RFC 3339 timestamp with a Z or numeric offset into integer Unix microseconds."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}; expected e.g. 2026-01-05T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset; add Z or e.g. +01:00")
    return (parsed - _EPOCH) // _ONE_MICROSECOND


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp into Unix seconds."""
    return parse_rfc3339_micros(text) / MICROS


def format_micros(micros: int) -> str:
    """Format Unix microseconds as RFC 3339 in UTC, with 3 fractional digits when they suffice."""
    seconds, fraction = divmod(micros, MICROS)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction % 1000 == 0:
        return f"{text}.{fraction // 1000:03d}Z"
    return f"{text}.{fraction:06d}Z"


class TimestampFormatter:
    """Format Unix seconds as RFC 3339 in UTC with milliseconds, e.g. 2026-01-05T09:30:00.250Z.

    The formatted second is cached, because consecutive records mostly share it.
    """

    def __init__(self) -> None:
        self._second: int | None = None
        self._prefix = ""

    def __call__(self, ts: float) -> str:
        millis = math.floor(ts * 1000.0 + 0.5)
        second, millisecond = divmod(millis, 1000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{millisecond:03d}Z"


def format_rfc3339(ts: float) -> str:
    return TimestampFormatter()(ts)


def start_of_utc_day(ts: float) -> float:
    return float(int(ts // 86400) * 86400)

"""Durations written as Prometheus writes them: `90s`, `15m`, `24h`, `7d`, `1w`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Return the duration in seconds; a bare number is taken as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: write it as 90s, 15m, 24h or 7d")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(value))
    else:
        raise ValueError(f"invalid duration {value!r}: write it as 90s, 15m, 24h or 7d")
    if seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: it must be greater than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds in the largest unit that divides them (86400 -> `24h`, 604800 -> `7d`)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "d" and seconds == 86400:
            continue  # one day reads as 24h in Prometheus rule windows and dashboards
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]

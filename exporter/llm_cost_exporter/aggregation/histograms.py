"""Cumulative histograms with fixed, log-spaced buckets, stored as plain lists."""

from __future__ import annotations

from bisect import bisect_left


def log_buckets(low: float, high: float, per_decade: int) -> tuple[float, ...]:
    """Upper bounds from `low` to `high` with `per_decade` bounds per factor of ten (1, 2.5, 5 style)."""
    steps = {3: (1.0, 2.5, 5.0), 2: (1.0, 3.0), 1: (1.0,)}[per_decade]
    bounds = []
    decade = low
    while decade <= high * 1.0000001:
        for step in steps:
            bound = round(decade * step, 12)
            if low * 0.9999999 <= bound <= high * 1.0000001:
                bounds.append(bound)
        decade *= 10
    return tuple(bounds)


# USD per request: 0.0001 to 100 USD.
COST_BUCKETS = log_buckets(0.0001, 100.0, 3)
# Calls per request: powers of two up to 256, which covers 3 retries at 5 layers (3**5 = 243).
CALL_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)


# Bucket index of a call count up to MAX_INDEXED_CALLS: counts 0 and 1 fall in le="1", 3 in
# le="4". Larger counts fall in +Inf, which is index -3 of a histogram list (before sum, count).
MAX_INDEXED_CALLS = int(CALL_BUCKETS[-1])
CALL_BUCKET_INDEX = tuple(bisect_left(CALL_BUCKETS, count) for count in range(MAX_INDEXED_CALLS + 1))


def new_histogram(bounds: tuple[float, ...]) -> list[float]:
    """Return a zeroed histogram: one count per bound plus +Inf, then sum, then count."""
    return [0.0] * (len(bounds) + 3)


def cumulative_buckets(histogram: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    """Return (le, cumulative count) pairs in exposition order, ending with +Inf."""
    pairs = []
    running = 0.0
    for bound, count in zip(bounds, histogram):
        running += count
        pairs.append((repr(float(bound)), running))
    running += histogram[len(bounds)]
    pairs.append(("+Inf", running))
    return pairs

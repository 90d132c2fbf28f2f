from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from llm_cost_exporter.vendors.poller import Hooks

# A fixed "now" for pollers and fakes: 2026-12-03 10:30:00 UTC.
T0 = datetime(2026, 12, 3, 10, 30, tzinfo=timezone.utc).timestamp()
HOUR = 3600
DAY = 86400


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class SleepRecorder:
    """Records the requested waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def hooks(sleeps: SleepRecorder) -> Hooks:
    return Hooks(sleep=sleeps, rng=random.Random(7))


def by_family(totals: dict, family: str) -> dict:
    """{labels dict as a sorted tuple: value} of one family, for comparisons that ignore label order."""
    return {tuple(sorted(labels)): value for (name, labels), value in totals.items() if name == family and value}

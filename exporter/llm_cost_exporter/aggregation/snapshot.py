"""Immutable copies of the aggregator's numbers, one per publication, read by scrapes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..config.durations import format_duration
from .aggregator import Aggregator


@dataclass(frozen=True)
class BudgetSnapshot:
    name: str
    period: str
    amount_usd: float
    spend_usd: float
    start: float
    end: float


@dataclass(frozen=True)
class Snapshot:
    attribution: tuple[str, ...]
    model_series: dict[tuple, list[float]]
    retries: dict[tuple, float]
    retry_cost: dict[tuple, float]
    tool_calls: dict[tuple, float]
    request_cost: dict[tuple, list[float]]
    request_model_calls: dict[tuple, list[float]]
    request_tool_calls: dict[tuple, list[float]]
    unpriced_tokens: dict[tuple, float]
    events: dict[tuple, float]
    rejected: dict[tuple, float]
    label_overflow: dict[str, float]
    # (cohort, window label) -> (active users, total spend, quantile values, top (user, spend))
    users: dict[tuple[str, str], tuple[int, float, list[float], list[tuple[str, float]]]]
    prefixes: dict[tuple[str, str], int]
    budgets: list[BudgetSnapshot]
    open_requests: int
    evicted_requests: float
    taken_at: float = field(default_factory=time.time)


class SnapshotBuilder:
    """Copy the aggregator's numbers; recompute the user summaries at most every `user_refresh` seconds,
    because sorting every user's spend is the costly part."""

    def __init__(self, pseudonymize, user_refresh: float = 10.0) -> None:
        self._pseudonymize = pseudonymize
        self._user_refresh = user_refresh
        self._users: dict = {}
        self._users_at = float("-inf")

    def build(self, aggregator: Aggregator) -> Snapshot:
        now = time.monotonic()
        first_users = not self._users and any(window.totals for window in aggregator.windows.values())
        if first_users or now - self._users_at >= self._user_refresh:
            self._users = self._summarize_users(aggregator)
            self._users_at = now
        clock = aggregator.clock
        prefixes = {}
        if clock != float("-inf"):
            prefixes = {(feature, format_duration(window)): count
                        for (feature, window), count in aggregator.prefixes.counts(clock).items()}
        return Snapshot(
            attribution=aggregator.attribution,
            model_series={key: list(values) for key, values in aggregator.model_series.items()},
            retries=dict(aggregator.retries),
            retry_cost=dict(aggregator.retry_cost),
            tool_calls=dict(aggregator.tool_calls),
            request_cost={key: list(h) for key, h in aggregator.request_cost.items()},
            request_model_calls={key: list(h) for key, h in aggregator.request_model_calls.items()},
            request_tool_calls={key: list(h) for key, h in aggregator.request_tool_calls.items()},
            unpriced_tokens=dict(aggregator.unpriced_tokens),
            events=dict(aggregator.events),
            rejected=dict(aggregator.rejected),
            label_overflow=dict(aggregator.limiter.overflows),
            users=self._users,
            prefixes=prefixes,
            budgets=[BudgetSnapshot(b.config.name, b.config.period, b.config.amount_usd, b.spend, b.start, b.end)
                     for b in aggregator.budgets if b.start != float("-inf")],
            open_requests=len(aggregator.requests.open),
            evicted_requests=aggregator.requests.evicted,
        )

    def _summarize_users(self, aggregator: Aggregator) -> dict:
        users = {}
        for seconds, window in aggregator.windows.items():
            label = format_duration(seconds)
            for cohort, (active, total, quantiles, top) in window.summary(aggregator.top_k).items():
                users[(cohort, label)] = (active, total, quantiles,
                                          [(self._pseudonymize(user_id), spend) for user_id, spend in top])
        return users

    def invalidate_users(self) -> None:
        self._users_at = float("-inf")

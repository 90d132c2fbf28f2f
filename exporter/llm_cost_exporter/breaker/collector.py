"""Exposes the breaker: llm_breaker_open per open key, and counters of checks and notifications.

Sample output:

    llm_breaker_open{scope="feature",key="search"} 1.0
    llm_breaker_checks_total{result="throttled"} 42.0
    llm_breaker_notifications_total{result="accepted"} 3.0
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .breaker import Breaker


class BreakerCollector(Collector):
    def __init__(self, breaker: Breaker) -> None:
        self._breaker = breaker

    def collect(self) -> Iterator[Metric]:
        open_keys = GaugeMetricFamily("llm_breaker_open", "1 while the circuit breaker holds a key open.",
                                      labels=["scope", "key"])
        until = GaugeMetricFamily("llm_breaker_open_until_timestamp_seconds",
                                  "When an open key reopens unless its alert fires again or resolves.",
                                  labels=["scope", "key"])
        for decision in self._breaker.open_keys():
            labels = [decision.hold.scope, decision.hold.key]
            open_keys.add_metric(labels, 1.0)
            until.add_metric(labels, decision.reopens_at)
        checks, notifications = self._breaker.counters()
        checks_family = CounterMetricFamily("llm_breaker_checks", "Gateway checks answered, by result.",
                                            labels=["result"])
        for result, count in checks.items():
            checks_family.add_metric([result], count)
        notifications_family = CounterMetricFamily("llm_breaker_notifications",
                                                   "Alertmanager webhook notifications received, by result.",
                                                   labels=["result"])
        for result, count in notifications.items():
            notifications_family.add_metric([result], count)
        yield from (open_keys, until, checks_family, notifications_family)

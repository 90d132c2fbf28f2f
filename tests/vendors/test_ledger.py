"""The bucket ledger: replace-not-add per bucket, settling, downward revisions and its saved form."""

from __future__ import annotations

import random

import pytest

from llm_cost_exporter.vendors.http import RetryPolicy, parse_retry_after
from llm_cost_exporter.vendors.ledger import Bucket, BucketLedger, series

A = series("llm_vendor_tokens", provider="openai", token_type="input")
B = series("llm_vendor_tokens", provider="openai", token_type="output")


def bucket(start: float, **values: float) -> Bucket:
    return Bucket(start, start + 10, {{"a": A, "b": B}[name]: value for name, value in values.items()})


def test_rereading_a_bucket_adds_only_the_difference():
    ledger = BucketLedger()
    ledger.apply([bucket(0, a=5), bucket(10, a=1)], now=100)
    ledger.apply([bucket(0, a=5), bucket(10, a=4, b=2)], now=100)
    assert ledger.exposed == {A: 9, B: 2}


def test_pages_of_one_bucket_are_summed():
    ledger = BucketLedger()
    ledger.apply([bucket(0, a=5), bucket(0, a=2)], now=100)
    assert ledger.exposed == {A: 7}


def test_settled_buckets_are_ignored():
    ledger = BucketLedger()
    ledger.apply([bucket(0, a=5), bucket(10, a=1)], now=100)
    ledger.settle(10)
    ledger.apply([bucket(0, a=50), bucket(10, a=2)], now=100)
    assert ledger.exposed == {A: 7}
    assert ledger.window_start(now=100, lookback=20, width=10) == 10


def test_downward_revision_holds_until_passed():
    ledger = BucketLedger()
    ledger.apply([bucket(0, a=5)], now=100)
    assert ledger.apply([bucket(0, a=3)], now=100) == [A]
    assert ledger.exposed == {A: 5}
    ledger.apply([bucket(0, a=3), bucket(10, a=4)], now=100)
    assert ledger.exposed == {A: 7}


def test_saved_form_round_trips():
    ledger = BucketLedger()
    ledger.apply([bucket(0, a=5), bucket(10, a=1.25, b=3)], now=15)
    ledger.settle(10)
    restored = BucketLedger.restore(ledger.export())
    assert restored.export() == ledger.export()
    assert restored.data_end == 10
    restored.apply([bucket(10, a=2, b=3)], now=100)
    assert restored.exposed == {A: 7, B: 3}


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), (None, None)])
def test_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date():
    assert parse_retry_after("Fri, 04 Dec 2026 20:00:30 GMT", now=lambda: 1796414400.0) == 30.0


def test_backoff_doubles_under_a_cap():
    policy = RetryPolicy(base_delay=1, max_delay=5)
    rng = random.Random(1)
    waits = [policy.backoff(attempt, rng) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= wait <= 5 for wait in waits)
    assert max(policy.backoff(1, rng) for _ in range(50)) <= 1

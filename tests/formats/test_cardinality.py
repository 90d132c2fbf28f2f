"""A label that suddenly carries a unique value per record stays bounded, counted and logged once."""

from __future__ import annotations

import logging

import pytest

from llm_cost_exporter.aggregation import Aggregator
from llm_cost_exporter.aggregation.labels import OVERFLOW
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.formats import make_parser
from llm_cost_exporter.ingest import RecordIngestor

RECORDS = 3000
LIMIT = 50


def leaking_records() -> list[bytes]:
    """LiteLLM records whose intent is the request id: a unique value per record."""
    return [(b'{"id": "c%d", "startTime": %d, "model": "gpt-4o", "custom_llm_provider": "openai", '
             b'"prompt_tokens": 100, "completion_tokens": 10, "metadata": {"spend_logs_metadata": '
             b'{"feature": "search", "intent": "req-%08d"}}}' % (n, 1767571200 + n, n)) for n in range(RECORDS)]


@pytest.fixture
def aggregator() -> Aggregator:
    config = parse_config(f"labels: {{limits: {{intent: {LIMIT}}}}}")
    aggregator = Aggregator(config)
    parser = make_parser("litellm", config.labels.attribution)
    RecordIngestor("litellm", parser, aggregator).ingest(leaking_records())
    return aggregator


def test_series_count_stays_bounded(aggregator):
    assert len(aggregator.model_series) == LIMIT + 1
    intents = {key[3] for key in aggregator.model_series}
    assert OVERFLOW in intents


def test_overflow_is_counted(aggregator):
    assert aggregator.limiter.overflows == {"intent": float(RECORDS - LIMIT)}


def test_tokens_are_kept_under_overflow(aggregator):
    assert sum(values[0] for values in aggregator.model_series.values()) == 100 * RECORDS


def test_series_cache_stays_bounded(aggregator):
    assert len(aggregator._series_cache) <= 2 * (LIMIT + 1)


def test_one_warning_per_label(caplog):
    caplog.set_level(logging.WARNING)
    config = parse_config(f"labels: {{limits: {{intent: {LIMIT}}}}}")
    aggregator = Aggregator(config)
    RecordIngestor("litellm", make_parser("litellm", config.labels.attribution), aggregator).ingest(leaking_records())
    warnings = [record for record in caplog.records if "intent" in record.getMessage()]
    assert len(warnings) == 1

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price

from llm_cost_exporter.config.models import PriceOverride
from llm_cost_exporter.pricing import PriceBook

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-3.5-turbo"),  # no cache prices: cache tokens are billed at the input rate
    ("anthropic", "claude-sonnet-4-5"),  # tiers above 200k input tokens
    ("anthropic", "claude-3-5-haiku-latest"),  # five-minute and one-hour cache writes
    ("google", "gemini-2.5-pro"),
    ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
]

# (input excluding cache, cache read, cache write, of which one-hour, output)
TOKEN_MIXES = [
    (1000, 0, 0, 0, 100),
    (1000, 500, 0, 0, 250),
    (800, 150, 300, 100, 50),
    (0, 0, 0, 0, 77),
    (150_000, 40_000, 9_999, 0, 4_000),  # just under 200k total input
    (150_000, 40_000, 10_001, 1, 4_000),  # just over 200k total input
    (400_000, 100_000, 50_000, 20_000, 30_000),
]


@pytest.mark.parametrize(("provider", "model"), MODELS)
@pytest.mark.parametrize("tokens", TOKEN_MIXES)
def test_compiled_price_matches_genai_prices(provider, model, tokens):
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    price = PriceBook(at=at).lookup(provider, model)
    assert price is not None
    input_tokens, cache_read, cache_write, cache_write_1h, output = tokens

    ours = sum(price.cost(input_tokens, cache_read, cache_write, cache_write_1h, output))

    usage = Usage(input_tokens=input_tokens + cache_read + cache_write, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write, output_tokens=output)
    if cache_write_1h:
        usage = Usage(input_tokens=input_tokens + cache_read + cache_write, cache_read_tokens=cache_read,
                      cache_write_tokens=cache_write, cache_write_1h_tokens=cache_write_1h, output_tokens=output)
    expected = float(calc_price(usage, model, provider_id=provider, genai_request_timestamp=at).total_price)
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_override_replaces_library_price():
    book = PriceBook([PriceOverride(provider="openai", model="gpt-4o", input=2.0, cache_read=1.0, output=8.0)])
    price = book.lookup("openai", "gpt-4o")
    assert price.origin == "override"
    assert price.cost(1_000_000, 1_000_000, 0, 0, 1_000_000) == (2.0, 1.0, 0.0, 8.0)


def test_override_without_cache_prices_uses_input_rate():
    book = PriceBook([PriceOverride(provider="acme", model="m1", input=3.0, output=6.0)])
    price = book.lookup("acme", "m1")
    assert price.cost(0, 1_000_000, 1_000_000, 500_000, 0) == (0.0, 3.0, 3.0, 0.0)


def test_aliases_resolve_before_lookup():
    book = PriceBook(aliases={"prod-gpt4o-deployment": "gpt-4o"})
    assert book.resolve_model("prod-gpt4o-deployment") == "gpt-4o"
    assert book.resolve_model("gpt-4o-mini") == "gpt-4o-mini"


def test_unknown_model_warns_once(caplog):
    book = PriceBook()
    with caplog.at_level(logging.WARNING):
        assert book.lookup("acme", "mystery-1") is None
        assert book.lookup("acme", "mystery-1") is None
    warnings = [record for record in caplog.records if "mystery-1" in record.getMessage()]
    assert len(warnings) == 1

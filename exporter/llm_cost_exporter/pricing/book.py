"""The price book: config overrides first, then genai-prices, cached per (provider, model)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import TieredPrices

from ..config.models import PriceOverride
from .compiled import CompiledPrice, Rates

log = logging.getLogger(__name__)

PRICING_VERSION = f"genai-prices {genai_prices.__version__}"

# genai-prices price keys for our token types. Where a model has no cache price, genai-prices
# bills those tokens at the input rate, and a missing one-hour write rate falls back to the
# five-minute rate. `_compile_library_price` does the same.
_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "output_mtok")


class PriceBook:
    """Resolve model aliases and return each model's compiled price, or None when unpriced."""

    def __init__(
        self,
        overrides: Iterable[PriceOverride] = (),
        aliases: dict[str, str] | None = None,
        at: datetime | None = None,
    ) -> None:
        self.aliases = dict(aliases or {})
        self._at = at or datetime.now(timezone.utc)
        self._cache: dict[tuple[str, str], CompiledPrice | None] = {}
        for override in overrides:
            self._cache[(override.provider, override.model)] = _compile_override(override)

    def resolve_model(self, model: str) -> str:
        return self.aliases.get(model, model)

    def lookup(self, provider: str, model: str) -> CompiledPrice | None:
        """Return the compiled price of a resolved model name; the first miss logs one warning."""
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        price = _compile_library_price(provider, model, self._at)
        if price is None:
            log.warning("no price for provider=%s model=%s: its tokens are counted at 0 USD "
                        "and in llm_exporter_unpriced_tokens_total; add a pricing override", provider, model)
        self._cache[key] = price
        return price


def _compile_override(override: PriceOverride) -> CompiledPrice:
    cache_read = override.input if override.cache_read is None else override.cache_read
    cache_write = override.input if override.cache_write is None else override.cache_write
    cache_write_1h = cache_write if override.cache_write_1h is None else override.cache_write_1h
    rates = Rates.per_million(override.input, cache_read, cache_write, cache_write_1h, override.output)
    return CompiledPrice(base=rates, origin="override")


def _compile_library_price(provider: str, model: str, at: datetime) -> CompiledPrice | None:
    snapshot = data_snapshot.get_snapshot()
    try:
        found_provider, model_info = snapshot.find_provider_model(model, None, provider or None, None)
    except LookupError:
        return None
    prices = model_info.get_prices(at)
    values = {key: getattr(prices, key, None) for key in _KEYS}
    if values["input_mtok"] is None and values["output_mtok"] is None:
        return None  # priced per request, image or second only: not a token price

    thresholds = sorted({tier.start for value in values.values() if isinstance(value, TieredPrices)
                         for tier in value.tiers})
    base = _rates(values, total_input=0)
    tier_rates = tuple(_rates(values, total_input=threshold + 1) for threshold in thresholds)
    return CompiledPrice(base=base, thresholds=tuple(thresholds), tier_rates=tier_rates,
                         origin=f"{found_provider.id}/{model_info.id}")


def _rates(values: dict[str, Any], total_input: int) -> Rates:
    def per_million(key: str, fallback: float) -> float:
        value = values[key]
        if value is None:
            return fallback
        return float(_tier_price(value, total_input))

    input_rate = per_million("input_mtok", 0.0)
    cache_write = per_million("cache_write_mtok", input_rate)
    return Rates.per_million(
        input=input_rate,
        cache_read=per_million("cache_read_mtok", input_rate),
        cache_write=cache_write,
        cache_write_1h=per_million("cache_write_1h_mtok", cache_write),
        output=per_million("output_mtok", 0.0),
    )


def _tier_price(value: Decimal | TieredPrices, total_input: int) -> Decimal:
    """Return the price genai-prices applies at `total_input` tokens (the highest tier passed)."""
    if not isinstance(value, TieredPrices):
        return value
    price = value.base
    for tier in value.tiers:
        if total_input > tier.start:
            price = tier.price
    return price

"""Pricing: token counts to USD, from genai-prices compiled once per model, plus config overrides."""

from .book import PRICING_VERSION, PriceBook
from .compiled import CompiledPrice, Rates

__all__ = ["PRICING_VERSION", "CompiledPrice", "PriceBook", "Rates"]

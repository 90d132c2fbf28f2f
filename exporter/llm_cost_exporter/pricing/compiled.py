"""Per-model rates compiled to floats in USD per token, so pricing an event is arithmetic."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for each token type. `cache_write_1h` applies to one-hour cache writes."""

    input: float
    cache_read: float
    cache_write: float
    cache_write_1h: float
    output: float

    @classmethod
    def per_million(cls, input: float, cache_read: float, cache_write: float, cache_write_1h: float,
                    output: float) -> Rates:
        return cls(input / PER_MILLION, cache_read / PER_MILLION, cache_write / PER_MILLION,
                   cache_write_1h / PER_MILLION, output / PER_MILLION)


@dataclass(frozen=True, slots=True)
class CompiledPrice:
    """Rates of one model. A tier applies to the whole call when its total input tokens
    (input, cache read and cache write together) exceed the tier's threshold."""

    base: Rates
    thresholds: tuple[int, ...] = ()
    tier_rates: tuple[Rates, ...] = ()
    origin: str = ""

    def rates_for(self, total_input_tokens: int) -> Rates:
        if not self.thresholds or total_input_tokens <= self.thresholds[0]:
            return self.base
        return self.tier_rates[bisect_left(self.thresholds, total_input_tokens) - 1]

    def cost(self, input_tokens: int, cache_read_tokens: int, cache_write_tokens: int,
             cache_write_1h_tokens: int, output_tokens: int) -> tuple[float, float, float, float]:
        """Return the USD cost of (input, cache_read, cache_write, output) tokens of one call."""
        rates = self.rates_for(input_tokens + cache_read_tokens + cache_write_tokens)
        cache_write_cost = ((cache_write_tokens - cache_write_1h_tokens) * rates.cache_write
                            + cache_write_1h_tokens * rates.cache_write_1h)
        return (
            input_tokens * rates.input,
            cache_read_tokens * rates.cache_read,
            cache_write_cost,
            output_tokens * rates.output,
        )

"""Profile compiled into lookup tables for the generator's hot path.

Each weighted choice becomes a cumulative-weight list searched with `bisect`, so
drawing a feature, intent, model, cohort or user costs one random number and one
binary search.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from random import Random

from .profile import Cohort, Feature, Intent, ModelChoice, Profile


def _cumulative(weights) -> tuple[list[float], float]:
    table = list(accumulate(weights))
    return table, table[-1]


def _pick(rng: Random, table: list[float], total: float) -> int:
    # min() guards against rng.random() * total rounding up to exactly total.
    return min(bisect_right(table, rng.random() * total), len(table) - 1)


@lru_cache(maxsize=64)
def _zipf_table(users: int, exponent: float) -> tuple[list[float], float]:
    # Shared between compiled variants of a profile: a cohort of 20,000 users is a
    # 20,000-entry list, and scenarios recompile the profile every simulated hour.
    return _cumulative(rank**-exponent for rank in range(1, users + 1))


class CompiledIntent:
    def __init__(self, intent: Intent):
        self.intent = intent
        self.name = intent.name
        self.models: tuple[ModelChoice, ...] = intent.models
        self._model_table = _cumulative(m.weight for m in intent.models)

    def pick_model(self, rng: Random) -> ModelChoice:
        if len(self.models) == 1:
            return self.models[0]
        return self.models[_pick(rng, *self._model_table)]


class CompiledFeature:
    def __init__(self, feature: Feature):
        self.feature = feature
        self.name = feature.name
        self.cache = feature.cache
        self.tools = feature.tools
        self.intents = tuple(CompiledIntent(i) for i in feature.intents)
        self._intent_table = _cumulative(i.weight for i in feature.intents)
        self._prefix_hashes: dict[int, str] = {}

    def pick_intent(self, rng: Random) -> CompiledIntent:
        return self.intents[_pick(rng, *self._intent_table)]

    def prefix_hash(self, ts: float) -> str:
        """Return the prompt prefix hash in effect at ts (it changes only with prefix churn)."""
        churn = self.cache.prefix_churn_seconds
        bucket = int(ts // churn) if churn > 0 else 0
        cached = self._prefix_hashes.get(bucket)
        if cached is None:
            text = f"{self.name}:{self.cache.prefix_version}:{bucket}"
            cached = hashlib.sha256(text.encode()).hexdigest()[:16]
            if churn > 0:
                self._prefix_hashes.clear()  # event time only moves forward
            self._prefix_hashes[bucket] = cached
        return cached


class CompiledCohort:
    def __init__(self, cohort: Cohort):
        self.cohort = cohort
        self.name = cohort.name
        self._user_table = _zipf_table(cohort.users, cohort.zipf_exponent)

    def pick_user(self, rng: Random) -> tuple[int, float]:
        """Draw a user index (1 is the most active) and that user's token multiplier."""
        cohort = self.cohort
        heavy = cohort.heavy_users
        if heavy is not None and rng.random() < heavy.request_share:
            # Heavy users are numbered after the regular ones: they are new accounts.
            index = cohort.users + 1 + int(rng.random() * heavy.count)
            return index, cohort.token_multiplier * heavy.token_multiplier
        return _pick(rng, *self._user_table) + 1, cohort.token_multiplier


class CompiledProfile:
    def __init__(self, profile: Profile):
        self.profile = profile
        self.features = tuple(CompiledFeature(f) for f in profile.features)
        self._feature_table = _cumulative(f.weight for f in profile.features)
        self.cohorts = tuple(CompiledCohort(c) for c in profile.cohorts)
        self._cohort_table = _cumulative(c.weight for c in profile.cohorts)
        self.base_rate = profile.requests_per_second * profile.rate_multiplier
        self.hourly = profile.seasonality.hourly
        self.weekly = profile.seasonality.weekly
        self.retries = profile.retries
        self.billed = profile.errors.billed
        self._error_tables: dict[str, tuple[list[float], tuple[str, ...]]] = {}

    def pick_feature(self, rng: Random) -> CompiledFeature:
        return self.features[_pick(rng, *self._feature_table)]

    def pick_cohort(self, rng: Random) -> CompiledCohort:
        return self.cohorts[_pick(rng, *self._cohort_table)]

    def request_rate(self, ts: float) -> float:
        """Return the mean request rate per second at Unix time ts, with seasonality."""
        hour = (ts % 86400.0) / 3600.0
        index = int(hour)
        fraction = hour - index
        hourly = self.hourly[index] * (1.0 - fraction) + self.hourly[(index + 1) % 24] * fraction
        # 1970-01-01 was a Thursday, so day 0 is index 3 with Monday as 0.
        weekday = (int(ts // 86400.0) + 3) % 7
        return self.base_rate * hourly * self.weekly[weekday]

    def draw_error(self, rng: Random, provider: str) -> str:
        """Return the error class of a model call, or "" when it succeeds."""
        table = self._error_tables.get(provider)
        if table is None:
            errors = self.profile.errors
            rates = errors.provider_rates.get(provider, errors.rates)
            classes = tuple(sorted(rates))
            table = (list(accumulate(rates[c] for c in classes)), classes)
            self._error_tables[provider] = table
        cumulative, classes = table
        if not classes:
            return ""
        draw = rng.random()
        if draw >= cumulative[-1]:
            return ""
        return classes[bisect_right(cumulative, draw)]

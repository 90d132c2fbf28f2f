"""Named failure scenarios: a baseline workload plus one cost failure from an onset time.

Each scenario is a function `change(profile, elapsed) -> profile`, applied by a
`Timeline` to every simulated step after the onset (`elapsed` is seconds since onset).
Targets are chosen from the profile itself (the busiest feature, the largest cohort,
the deepest agent workflow), so scenarios also work on a custom profile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from .profile import AgentLoop, Feature, HeavyUsers, Intent, Profile
from .timeline import ProfileChange, Timeline

DAY = 86400.0
WEEK = 7 * DAY


def replace_feature(profile: Profile, name: str, **changes) -> Profile:
    features = tuple(f.model_copy(update=changes) if f.name == name else f for f in profile.features)
    return profile.model_copy(update={"features": features})


def replace_intent(profile: Profile, feature_name: str, intent_name: str, **changes) -> Profile:
    feature = profile.feature(feature_name)
    intents = tuple(i.model_copy(update=changes) if i.name == intent_name else i for i in feature.intents)
    return replace_feature(profile, feature_name, intents=intents)


def busiest_feature(profile: Profile) -> Feature:
    return max(profile.features, key=lambda f: f.weight)


def deepest_agent_intent(profile: Profile) -> tuple[Feature, Intent]:
    """Return the tool-calling intent with the most model calls per request."""
    candidates = [
        (intent.model_calls_mean, feature.name, intent.name, feature, intent)
        for feature in profile.features
        for intent in feature.intents
        if feature.tools and intent.tool_call_probability > 0
    ]
    if not candidates:
        raise ValueError("the profile has no intent that calls tools")
    *_, feature, intent = max(candidates, key=lambda c: c[:3])
    return feature, intent


def busiest_provider(profile: Profile) -> str:
    """Return the provider that serves the most intents, by request weight."""
    total = sum(f.weight for f in profile.features)
    share: Counter[str] = Counter()
    for feature in profile.features:
        intent_total = sum(i.weight for i in feature.intents)
        for intent in feature.intents:
            model_total = sum(m.weight for m in intent.models)
            for model in intent.models:
                share[model.provider] += (
                    feature.weight / total * intent.weight / intent_total * model.weight / model_total
                )
    return max(sorted(share), key=share.__getitem__)


def heavy_users(profile: Profile, elapsed: float) -> Profile:
    """Add five new users to the largest cohort who send 15% of its requests with 6x larger prompts."""
    target = max(profile.cohorts, key=lambda c: c.weight)
    heavy = HeavyUsers(count=5, request_share=0.15, token_multiplier=6.0)
    cohorts = tuple(c.model_copy(update={"heavy_users": heavy}) if c is target else c for c in profile.cohorts)
    return profile.model_copy(update={"cohorts": cohorts})


CAMPAIGN_FACTOR = 5.0
CAMPAIGN_SECONDS = 3 * DAY


def campaign_surge(profile: Profile, elapsed: float) -> Profile:
    """Multiply the traffic of the busiest feature by 5 for three days, leaving the others as they are."""
    if elapsed >= CAMPAIGN_SECONDS:
        return profile
    target = busiest_feature(profile)
    total = sum(f.weight for f in profile.features)
    surged_total = total + target.weight * (CAMPAIGN_FACTOR - 1.0)
    profile = replace_feature(profile, target.name, weight=target.weight * CAMPAIGN_FACTOR)
    return profile.model_copy(update={"rate_multiplier": profile.rate_multiplier * surged_total / total})


def agent_loop(profile: Profile, elapsed: float) -> Profile:
    """Make one in twenty requests of the deepest agent workflow loop for 40 model calls."""
    feature, intent = deepest_agent_intent(profile)
    return replace_intent(profile, feature.name, intent.name, loop=AgentLoop(probability=0.05, model_calls=40))


def retry_storm(profile: Profile, elapsed: float) -> Profile:
    """Make the busiest provider rate-limit 30% of calls and time out 5% of them."""
    provider = busiest_provider(profile)
    errors = profile.errors
    rates = dict(errors.provider_rates.get(provider, errors.rates))
    rates.update(rate_limit=0.30, timeout=0.05)
    provider_rates = {**errors.provider_rates, provider: rates}
    return profile.model_copy(update={"errors": errors.model_copy(update={"provider_rates": provider_rates})})


def cache_break(profile: Profile, elapsed: float) -> Profile:
    """Put the current time into the system prompt of the feature with the largest cached prefix.

    The timestamp has one-second resolution, so nearly every request has a new prefix hash
    and misses the cache on its first call.
    """
    target = max(profile.features, key=lambda f: (f.cache.prefix_tokens, f.name))
    cache = target.cache.model_copy(update={"prefix_churn_seconds": 1.0, "prefix_version": "v2-timestamped"})
    return replace_feature(profile, target.name, cache=cache)


MULTIPLICITY_RAMP_SECONDS = WEEK


def multiplicity_drift(profile: Profile, elapsed: float) -> Profile:
    """Grow the model calls per request of the deepest agent workflow from 3 to 7 over a week.

    For an intent whose baseline mean is not 3, the mean grows by the same factor, 7/3.
    """
    feature, intent = deepest_agent_intent(profile)
    progress = min(1.0, elapsed / MULTIPLICITY_RAMP_SECONDS)
    mean = intent.model_calls_mean * (1.0 + progress * (7.0 / 3.0 - 1.0))
    return replace_intent(
        profile,
        feature.name,
        intent.name,
        model_calls_mean=mean,
        model_calls_max=max(intent.model_calls_max, 4 * round(mean)),
    )


OUTPUT_FACTOR = 3.0


def output_mix_shift(profile: Profile, elapsed: float) -> Profile:
    """Triple the output tokens of every intent of the busiest feature."""
    target = busiest_feature(profile)
    intents = tuple(
        i.model_copy(
            update={
                "output_tokens": i.output_tokens.model_copy(
                    update={
                        "median": i.output_tokens.median * OUTPUT_FACTOR,
                        "max": round(i.output_tokens.max * OUTPUT_FACTOR),
                    }
                )
            }
        )
        for i in target.intents
    )
    return replace_feature(profile, target.name, intents=intents)


WEEKLY_GROWTH = 0.20


def budget_growth(profile: Profile, elapsed: float) -> Profile:
    """Grow all traffic by 20% a week, compounded, from the onset."""
    factor = (1.0 + WEEKLY_GROWTH) ** (elapsed / WEEK)
    return profile.model_copy(update={"rate_multiplier": profile.rate_multiplier * factor})


@dataclass(frozen=True)
class Scenario:
    name: str
    change: ProfileChange
    # Default onset in days after the start, as a function of the simulated days.
    default_onset_days: Callable[[float], float]
    # Time between recomputations of a gradual change.
    step_seconds: float = 3600.0

    @property
    def description(self) -> str:
        return (self.change.__doc__ or "").strip().splitlines()[0]

    def timeline(self, baseline: Profile, start: float, onset: float | None, days: float) -> Timeline:
        if onset is None:
            onset = start + self.default_onset_days(days) * DAY
        return Timeline(baseline, self.change, onset, self.step_seconds)


def _last_week(days: float) -> float:
    """Leave the final week (or the second half of a short run) for the failure."""
    return days - 7 if days >= 14 else days / 2


def _last_three_days(days: float) -> float:
    return days - 3 if days >= 6 else days / 2


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("heavy-users", heavy_users, _last_week),
        Scenario("campaign-surge", campaign_surge, _last_three_days),
        Scenario("agent-loop", agent_loop, _last_week),
        Scenario("retry-storm", retry_storm, _last_three_days),
        Scenario("cache-break", cache_break, _last_week),
        Scenario("multiplicity-drift", multiplicity_drift, _last_week),
        Scenario("output-mix-shift", output_mix_shift, _last_week),
        Scenario("budget-growth", budget_growth, lambda days: 0.0),
    )
}

"""Backtest scenarios: a baseline month with growth and a steady heavy cohort, plus one failure.

Each scenario starts with a warm-up (by default a week) so that week-long baselines and
`offset 1w` comparisons have history, as on an exporter that has run for a while. The
failure changes the profile from its onset, which is fixed per scenario relative to the
start of the evaluated month. The workload's own failure functions are reused where
they match the failure described here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..workloads import scenarios as workload_scenarios
from ..workloads.compiled import CompiledProfile
from ..workloads.profile import AgentLoop, HeavyUsers, Profile
from ..workloads.scenarios import DAY, WEEK, deepest_agent_intent, replace_feature, replace_intent

HOUR = 3600.0
ProfileChange = Callable[[Profile, float], Profile]

BASELINE_WEEKLY_GROWTH = 0.05


def baseline_change(profile: Profile, elapsed: float) -> Profile:
    """Grow all traffic 5% a week and give the enterprise cohort ten steady heavy users."""
    factor = (1.0 + BASELINE_WEEKLY_GROWTH) ** (elapsed / WEEK)
    cohorts = tuple(
        c.model_copy(update={"heavy_users": HeavyUsers(count=10, request_share=0.1, token_multiplier=3.0)})
        if c.name == "enterprise" and c.heavy_users is None else c
        for c in profile.cohorts
    )
    return profile.model_copy(update={"rate_multiplier": profile.rate_multiplier * factor, "cohorts": cohorts})


def heavy_users(profile: Profile, elapsed: float) -> Profile:
    """Add 400 users to the largest cohort who send 20% of its requests with 6x larger prompts.

    NOTE: each of them makes about 6 requests a day at 6x the tokens, which is about 40x the
    spend of a median active user of the default profile's free cohort (about one request a
    day). That ratio is an estimate from the profile's rates, not a measured quantile.
    """
    target = max(profile.cohorts, key=lambda c: c.weight)
    heavy = HeavyUsers(count=400, request_share=0.2, token_multiplier=6.0)
    cohorts = tuple(c.model_copy(update={"heavy_users": heavy}) if c is target else c for c in profile.cohorts)
    return profile.model_copy(update={"cohorts": cohorts})


CAMPAIGN_FACTOR = 5.0
CAMPAIGN_SECONDS = 3 * DAY


def campaign_surge(profile: Profile, elapsed: float) -> Profile:
    """Send 5x the traffic of the most expensive branch (deepest tool chain) for three days."""
    if elapsed >= CAMPAIGN_SECONDS:
        return profile
    feature, intent = deepest_agent_intent(profile)
    intent_share = intent.weight / sum(i.weight for i in feature.intents)
    # The feature gets the extra requests of its surging intent, so the others keep their rate.
    feature_factor = 1.0 + intent_share * (CAMPAIGN_FACTOR - 1.0)
    total = sum(f.weight for f in profile.features)
    profile = replace_intent(profile, feature.name, intent.name, weight=intent.weight * CAMPAIGN_FACTOR)
    profile = replace_feature(profile, feature.name, weight=feature.weight * feature_factor)
    surged_total = total + feature.weight * (feature_factor - 1.0)
    return profile.model_copy(update={"rate_multiplier": profile.rate_multiplier * surged_total / total})


LOOP_START_PROBABILITY = 0.1
LOOP_FULL_SECONDS = 11 * DAY
LOOP_MODEL_CALLS = 80


def agent_loop(profile: Profile, elapsed: float) -> Profile:
    """Make requests of the deepest agent workflow recurse for 80 model calls, from 10% of them to all in 11 days.

    The workflow's spend jumps at the onset, as a recursive loop's does within minutes, and
    keeps growing: from several times its normal spend to dozens of times over eleven days.
    """
    feature, intent = deepest_agent_intent(profile)
    progress = min(1.0, elapsed / LOOP_FULL_SECONDS)
    probability = LOOP_START_PROBABILITY + progress * (1.0 - LOOP_START_PROBABILITY)
    return replace_intent(profile, feature.name, intent.name,
                          loop=AgentLoop(probability=probability, model_calls=LOOP_MODEL_CALLS))


def retry_storm(profile: Profile, elapsed: float) -> Profile:
    """Make the busiest provider time out 60% of calls, retried up to 10 attempts.

    NOTE: the generator retries at one layer. Ten attempts per call stand in for the
    amplification of three retries at each of five layers (up to 243 calls), which it
    cannot express.
    """
    provider = workload_scenarios.busiest_provider(profile)
    errors = profile.errors
    rates = dict(errors.provider_rates.get(provider, errors.rates))
    rates.update(timeout=0.6)
    provider_rates = {**errors.provider_rates, provider: rates}
    retries = profile.retries.model_copy(update={"max_attempts": 10})
    return profile.model_copy(update={
        "errors": errors.model_copy(update={"provider_rates": provider_rates}),
        "retries": retries,
    })


MULTIPLICITY_FACTOR = 7.0 / 3.0


def multiplicity_drift(profile: Profile, elapsed: float) -> Profile:
    """Add a validation step to the deepest agent workflow: from 3 to 7 model calls per request at once."""
    feature, intent = deepest_agent_intent(profile)
    mean = intent.model_calls_mean * MULTIPLICITY_FACTOR
    return replace_intent(profile, feature.name, intent.name, model_calls_mean=mean,
                          model_calls_max=max(intent.model_calls_max, 4 * round(mean)))


OUTPUT_MIX_RAMP_SECONDS = 3 * DAY
OUTPUT_MIX_FACTOR = 4.0


def output_mix_shift(profile: Profile, elapsed: float) -> Profile:
    """Grow the share of the longest-output intent of every feature, up to 4x its weight over three days.

    Each feature keeps its request rate; only its mix of intents changes.
    """
    progress = min(1.0, elapsed / OUTPUT_MIX_RAMP_SECONDS)
    factor = 1.0 + progress * (OUTPUT_MIX_FACTOR - 1.0)
    for feature in profile.features:
        if len(feature.intents) < 2:
            continue
        longest = max(feature.intents, key=lambda i: (i.output_tokens.median, i.name))
        profile = replace_intent(profile, feature.name, longest.name, weight=longest.weight * factor)
    return profile


@dataclass(frozen=True)
class Expectation:
    """Acceptance criterion: an alert of at least `severity` within `within` seconds of the onset."""

    severity: str  # "page", "ticket" or "any"
    within: float
    text: str


@dataclass(frozen=True)
class BacktestScenario:
    name: str
    description: str
    change: ProfileChange | None
    # Onset in seconds after the start of the evaluated month; None for the baseline.
    onset_offset: float | None
    expectation: Expectation | None
    # budget-growth changes traffic from the start of the warm-up.
    from_warmup: bool = False


class ScenarioTimeline:
    """The baseline change from the warm-up start, and the failure change on top of it from its onset.

    The same interface as `workloads.timeline.Timeline`: the generator calls `profile_at`
    in non-decreasing event time, and profiles are recompiled once per `step_seconds`.
    """

    def __init__(self, profile: Profile, warmup_start: float, failure: ProfileChange | None,
                 onset: float | None, step_seconds: float = HOUR) -> None:
        self.profile = profile
        self.warmup_start = warmup_start
        self.failure = failure
        self.onset = onset
        self.step_seconds = step_seconds
        self._key: tuple[int, int] | None = None
        self._compiled: CompiledProfile | None = None

    def reset(self) -> None:
        """Forget the compiled profile, after `failure` or `onset` changed."""
        self._key = None
        self._compiled = None

    def profile_at(self, ts: float) -> CompiledProfile:
        base_step = int((ts - self.warmup_start) // self.step_seconds)
        failure_step = -1
        if self.failure is not None and self.onset is not None and ts >= self.onset:
            failure_step = int((ts - self.onset) // self.step_seconds)
        key = (base_step, failure_step)
        if key != self._key:
            profile = baseline_change(self.profile, base_step * self.step_seconds)
            if failure_step >= 0:
                profile = self.failure(profile, failure_step * self.step_seconds)
            self._compiled = CompiledProfile(profile)
            self._key = key
        return self._compiled


def _at(day: int, hour: float) -> float:
    """Seconds after the month start: `day` is the day of the month (1-based), `hour` in UTC."""
    return (day - 1) * DAY + hour * HOUR


# Onsets are placed in March 2026 (the month starts on a Sunday): 25 March is a Wednesday.
SCENARIOS: dict[str, BacktestScenario] = {
    scenario.name: scenario
    for scenario in (
        BacktestScenario("baseline", "5% weekly growth, seasonality and a steady heavy cohort; no incident",
                         None, None, None),
        BacktestScenario("heavy-users", "in week three, 400 users of the largest cohort each spend about 40x its median",
                         heavy_users, _at(16, 10), Expectation("ticket", 2 * DAY, "a ticket within 2 days")),
        BacktestScenario("campaign-surge", "5x traffic on the deepest agent workflow for three days",
                         campaign_surge, _at(24, 9), Expectation("any", HOUR, "an alert within 1 hour")),
        BacktestScenario("agent-loop", "a recursive agent loop in the deepest workflow, growing for 11 days",
                         agent_loop, _at(20, 14), Expectation("page", 0.5 * HOUR, "a page within 30 minutes")),
        BacktestScenario("retry-storm", "the busiest provider times out 60% of calls, up to 10 attempts",
                         retry_storm, _at(26, 13), Expectation("any", HOUR, "an alert within 1 hour")),
        BacktestScenario("cache-break", "a Wednesday afternoon deploy puts a timestamp in the system prompt",
                         workload_scenarios.cache_break, _at(25, 15),
                         Expectation("ticket", 2 * HOUR, "a ticket within 2 hours")),
        BacktestScenario("multiplicity-drift", "a validation step: the deepest workflow goes from 3 to 7 model calls",
                         multiplicity_drift, _at(23, 10), Expectation("ticket", DAY, "a ticket within 24 hours")),
        BacktestScenario("output-mix-shift", "long-output intents grow to 4x their share over three days",
                         output_mix_shift, _at(22, 8), Expectation("ticket", 3 * DAY, "a ticket within 3 days")),
        BacktestScenario("budget-growth", "all traffic grows 20% a week against a fixed monthly budget",
                         workload_scenarios.budget_growth, 0.0, None, from_warmup=True),
    )
}

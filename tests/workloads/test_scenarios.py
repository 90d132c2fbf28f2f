"""Failure scenarios: a baseline day, then the failure from the onset on the second day."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

import pytest

from llm_cost_exporter.workloads.scenarios import (
    SCENARIOS,
    WEEK,
    budget_growth,
    busiest_feature,
    busiest_provider,
    deepest_agent_intent,
    multiplicity_drift,
)
from llm_cost_exporter.workloads.timestamps import parse_rfc3339

from .conftest import START, generate, read_lines, run_cli

ONSET = parse_rfc3339(START) + 86400


@pytest.fixture(scope="module")
def slow_profile(default_profile):
    """The default profile at a fifth of its rate: about 17,000 requests in two days."""
    return default_profile.model_copy(update={"requests_per_second": 0.1})


def run_scenario(profile, name: str, onset: float = ONSET) -> tuple[list[dict], list[dict]]:
    """Return the records of requests that start before the onset and those that start after."""
    timeline = SCENARIOS[name].timeline(profile, parse_rfc3339(START), onset, days=2)
    records = generate(timeline, seed=3, days=2)
    request_start = {}
    for record in records:
        request_start.setdefault(record["request_id"], record["ts"])
    before = [r for r in records if request_start[r["request_id"]] < onset]
    after = [r for r in records if request_start[r["request_id"]] >= onset]
    return before, after


def first_calls(records: list[dict]) -> list[dict]:
    return [r for r in records if r["kind"] == "model" and r["call_id"].endswith("-1")]


def test_scenario_names():
    assert sorted(SCENARIOS) == [
        "agent-loop",
        "budget-growth",
        "cache-break",
        "campaign-surge",
        "heavy-users",
        "multiplicity-drift",
        "output-mix-shift",
        "retry-storm",
    ]


def test_timeline_is_baseline_before_onset(default_profile):
    timeline = SCENARIOS["budget-growth"].timeline(default_profile, 0.0, 1000.0, days=30)
    assert timeline.profile_at(999.0).profile is default_profile
    assert timeline.profile_at(1000.0 + 2 * WEEK).profile.rate_multiplier == pytest.approx(1.44)


def test_heavy_users(slow_profile):
    before, after = run_scenario(slow_profile, "heavy-users")
    free_users = slow_profile.cohorts[0].users

    def heavy_share(records):
        calls = first_calls([r for r in records if r.get("cohort") == "free"])
        heavy = [r for r in calls if int(r["user_id"].rsplit("-", 1)[1]) > free_users]
        return len(heavy) / len(calls), {r["user_id"] for r in heavy}

    share_before, users_before = heavy_share(before)
    share_after, users_after = heavy_share(after)
    assert share_before == 0
    assert 0.12 < share_after < 0.18
    assert len(users_after) == 5


def test_campaign_surge(slow_profile):
    before, after = run_scenario(slow_profile, "campaign-surge")
    target = busiest_feature(slow_profile).name
    requests_before = Counter(r["feature"] for r in first_calls(before))
    requests_after = Counter(r["feature"] for r in first_calls(after))
    for feature in requests_before:
        ratio = requests_after[feature] / requests_before[feature]
        if feature == target:
            assert 4.0 < ratio < 6.5, f"{feature} grew {ratio:.2f}x"
        else:
            assert 0.85 < ratio < 1.35, f"{feature} changed {ratio:.2f}x"


def test_agent_loop(slow_profile):
    before, after = run_scenario(slow_profile, "agent-loop")

    def model_calls(records):
        calls = Counter(r["request_id"] for r in records if r["kind"] == "model")
        return sorted(calls.values())

    assert model_calls(before)[-1] <= 15
    looping = [n for n in model_calls(after) if n >= 30]
    assert 20 <= len(looping) <= 100


def test_retry_storm(slow_profile):
    before, after = run_scenario(slow_profile, "retry-storm")
    provider = busiest_provider(slow_profile)
    assert provider == "openai"

    def rate_limited_share(records, provider):
        calls = [r for r in records if r["kind"] == "model" and r["provider"] == provider]
        return sum(r.get("error_class") == "rate_limit" for r in calls) / len(calls)

    assert rate_limited_share(before, "openai") < 0.04
    assert 0.25 < rate_limited_share(after, "openai") < 0.40
    assert rate_limited_share(after, "anthropic") < 0.04
    retries_after = sum(1 for r in after if r.get("retry_of"))
    assert retries_after > 5 * sum(1 for r in before if r.get("retry_of"))


def test_cache_break(slow_profile):
    before, after = run_scenario(slow_profile, "cache-break")

    def prefix_stats(records):
        calls = [r for r in first_calls(records) if r["feature"] == "support-agent" and r["status"] == "ok"]
        hit_share = sum(r["cache_read_tokens"] > 0 for r in calls) / len(calls)
        return hit_share, {r["prompt_prefix_hash"] for r in calls}

    hits_before, hashes_before = prefix_stats(before)
    hits_after, hashes_after = prefix_stats(after)
    assert len(hashes_before) == 1
    assert len(hashes_after) > 500
    assert hits_before > 0.6
    assert hits_after < 0.1
    other_features = {r["prompt_prefix_hash"] for r in first_calls(after) if r["feature"] == "search"}
    assert len(other_features) == 1


def test_multiplicity_drift_ramps_over_a_week(default_profile):
    feature, intent = deepest_agent_intent(default_profile)
    assert (feature.name, intent.name, intent.model_calls_mean) == ("support-agent", "resolve", 3)
    for elapsed, mean in ((0, 3), (WEEK / 2, 5), (WEEK, 7), (2 * WEEK, 7)):
        changed = multiplicity_drift(default_profile, elapsed)
        resolve = next(i for i in changed.feature("support-agent").intents if i.name == "resolve")
        assert resolve.model_calls_mean == pytest.approx(mean)
        assert resolve.model_calls_max >= 4 * mean


def test_multiplicity_drift_after_ramp(slow_profile):
    # An onset a week before the start: the whole run has the full drift.
    before, after = run_scenario(slow_profile, "multiplicity-drift", onset=parse_rfc3339(START) - WEEK)
    assert before == []
    calls = Counter(r["request_id"] for r in after if r["kind"] == "model" and r["intent"] == "resolve")
    mean = sum(calls.values()) / len(calls)
    assert 6.0 < mean < 7.5


def test_output_mix_shift(slow_profile):
    before, after = run_scenario(slow_profile, "output-mix-shift")
    target = busiest_feature(slow_profile).name

    def mean_output(records, feature):
        calls = [r["output_tokens"] for r in records if r["kind"] == "model" and r["feature"] == feature]
        return sum(calls) / len(calls)

    assert 2.5 < mean_output(after, target) / mean_output(before, target) < 3.5
    assert 0.8 < mean_output(after, "support-agent") / mean_output(before, "support-agent") < 1.25


def test_budget_growth_compounds_weekly(default_profile):
    assert budget_growth(default_profile, 0).rate_multiplier == 1.0
    assert budget_growth(default_profile, WEEK).rate_multiplier == pytest.approx(1.2)
    assert budget_growth(default_profile, 3 * WEEK).rate_multiplier == pytest.approx(1.728)


def test_scenario_from_cli(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "scenario.jsonl"
    exit_code = run_cli(
        "simulate", "--scenario", "retry-storm", "--days", "0.5", "--onset", "6h",
        "--request-rate", "0.05", "--start", START, "--output", path,
    )  # fmt: skip
    assert exit_code == 0
    assert "scenario retry-storm starts at 2026-11-02T06:00:00.000Z" in caplog.text
    by_half = defaultdict(Counter)
    for record in read_lines(path):
        if record["kind"] == "model" and record["provider"] == "openai":
            by_half[record["ts"] >= "2026-11-02T06:00"][record.get("error_class", "ok")] += 1
    assert by_half[True]["rate_limit"] > 5 * by_half[False]["rate_limit"]

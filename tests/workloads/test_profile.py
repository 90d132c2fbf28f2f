"""Workload profiles: loading a custom profile and the errors of invalid ones."""

from __future__ import annotations

import pytest
import yaml

from llm_cost_exporter.workloads.profile import ProfileError, load_profile, parse_profile

from .conftest import START, read_lines, run_cli

MINIMAL = {
    "requests_per_second": 2.0,
    "cohorts": [{"name": "everyone", "weight": 1, "users": 50}],
    "features": [
        {
            "name": "faq",
            "weight": 1,
            "cost_center": "support",
            "intents": [
                {
                    "name": "answer",
                    "weight": 1,
                    "models": [{"provider": "openai", "model": "gpt-4o-mini"}],
                    "input_tokens": {"median": 200},
                    "output_tokens": {"median": 50},
                }
            ],
        }
    ],
}


def test_custom_profile_drives_simulate(tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(MINIMAL))
    output = tmp_path / "gateway.jsonl"
    assert run_cli("simulate", "--profile", profile, "--start", START, "--events", "500", "--output", output) == 0
    records = read_lines(output)
    model_calls = [r for r in records if r["kind"] == "model"]
    assert {r["feature"] for r in model_calls} == {"faq"}
    assert {r["cost_center"] for r in model_calls} == {"support"}
    assert {r["cohort"] for r in model_calls} == {"everyone"}
    assert {r["model"] for r in model_calls} == {"gpt-4o-mini"}
    assert all(r["cache_read_tokens"] == r["cache_write_tokens"] == 0 for r in model_calls)
    assert "prompt_prefix_hash" not in model_calls[0]


def test_default_profile_loads():
    profile = load_profile()
    assert profile.requests_per_second == 0.5
    assert sum(profile.seasonality.hourly) == pytest.approx(24)
    assert sum(profile.seasonality.weekly) == pytest.approx(7)


def profile_error(changes: dict) -> str:
    data = {**MINIMAL, **changes}
    with pytest.raises(ProfileError) as error:
        parse_profile(data, "test.yaml")
    return str(error.value)


def test_tool_calls_need_tools():
    feature = {**MINIMAL["features"][0]}
    feature["intents"] = [{**feature["intents"][0], "tool_call_probability": 0.5}]
    message = profile_error({"features": [feature]})
    assert "features.0: Value error, intents ['answer'] call tools, but the feature lists no tools" in message


def test_seasonality_needs_24_hours():
    message = profile_error({"seasonality": {"hourly": [1, 2, 3]}})
    assert "seasonality.hourly: Value error, expected 24 values, got 3" in message


def test_unknown_error_class_rejected():
    message = profile_error({"errors": {"rates": {"overload": 0.1}}})
    assert "errors: Value error, rates: unknown error classes ['overload']" in message


def test_error_rates_sum_at_most_one():
    message = profile_error({"errors": {"provider_rates": {"openai": {"rate_limit": 0.7, "timeout": 0.5}}}})
    assert "provider_rates.openai: rates must be non-negative and sum to at most 1" in message


def test_duplicate_feature_names_rejected():
    message = profile_error({"features": MINIMAL["features"] * 2})
    assert "duplicate feature names ['faq']" in message


def test_unknown_key_rejected():
    message = profile_error({"request_per_second": 3})
    assert message.startswith("invalid workload profile test.yaml:")
    assert "request_per_second: Extra inputs are not permitted" in message


def test_missing_profile_file(tmp_path):
    with pytest.raises(ProfileError) as error:
        load_profile(tmp_path / "absent.yaml")
    assert str(error.value) == f"failed to read workload profile {tmp_path / 'absent.yaml'}: No such file or directory"

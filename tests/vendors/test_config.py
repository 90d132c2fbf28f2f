"""Validation of the vendor source settings."""

from __future__ import annotations

import pytest

from llm_cost_exporter.config import ConfigError, parse_config


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    return raised.value.errors


def test_defaults_of_each_vendor_type():
    config = parse_config("""
sources:
  - {name: openai, type: openai_usage}
  - {name: anthropic, type: anthropic_usage}
  - {name: bedrock, type: bedrock_cloudwatch, region: eu-west-1}
  - {name: cost-explorer, type: aws_cost_explorer}
""")
    openai, anthropic, bedrock, cost_explorer = config.sources
    assert (openai.provider, openai.api_key_env, openai.group_by) == ("openai", "OPENAI_ADMIN_KEY",
                                                                      ["model", "project_id"])
    assert (anthropic.provider, anthropic.base_url) == ("anthropic", "https://api.anthropic.com")
    assert (bedrock.provider, bedrock.period, bedrock.lookback) == ("bedrock", 300.0, 10800.0)
    assert (cost_explorer.interval, cost_explorer.region) == (21600.0, "us-east-1")


def test_unknown_group_by_is_rejected():
    [message] = errors("sources: [{name: openai, type: openai_usage, group_by: [model, team]}]")
    assert message.startswith("sources[0].group_by[1]: Input should be")


def test_key_env_and_file_together_are_rejected():
    [message] = errors("sources: [{name: a, type: anthropic_usage, api_key_env: K, api_key_file: /run/key}]")
    assert message == "sources[0]: set api_key_env or api_key_file, not both"


def test_key_file_replaces_the_default_env():
    [source] = parse_config("sources: [{name: a, type: anthropic_usage, api_key_file: /run/key}]").sources
    assert source.api_key_file == "/run/key"


def test_cloudwatch_period_must_be_whole_minutes():
    [message] = errors("sources: [{name: b, type: bedrock_cloudwatch, period: 90s}]")
    assert "multiple of 60 seconds" in message


def test_cost_explorer_takes_two_groups_at_most():
    [message] = errors("sources: [{name: c, type: aws_cost_explorer, group_by: [USAGE_TYPE, LINKED_ACCOUNT, "
                       "USAGE_TYPE]}]")
    assert "at most 2" in message


def test_central_example_passes_check_config(repo_root, capsys):
    from llm_cost_exporter.cli import main

    assert main(["check-config", str(repo_root / "tests/fixtures/vendors/central.yaml")]) == 0
    assert "valid (4 source(s)" in capsys.readouterr().out

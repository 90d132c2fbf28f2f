"""The files in examples/: the sample log is current and the config is valid."""

from __future__ import annotations

from llm_cost_exporter.config.loader import load_config

from .conftest import run_cli

# The command that wrote examples/gateway-sample.jsonl.
SAMPLE_COMMAND = ("simulate", "--seed", "1", "--start", "2026-01-05T09:00:00Z", "--events", "40")


def test_sample_log_matches_simulator(repo_root, tmp_path):
    output = tmp_path / "sample.jsonl"
    assert run_cli(*SAMPLE_COMMAND, "--output", output) == 0
    expected = (repo_root / "examples" / "gateway-sample.jsonl").read_bytes()
    assert output.read_bytes() == expected, (
        "examples/gateway-sample.jsonl is out of date: regenerate it with "
        f"`llm-cost-exporter {' '.join(SAMPLE_COMMAND)} --output examples/gateway-sample.jsonl`"
    )


def test_example_config_is_valid(repo_root):
    config = load_config(repo_root / "examples" / "config.yaml")
    assert [source.name for source in config.sources] == ["gateway"]
    assert config.sources[0].path == "build/demo/gateway*.jsonl"
    assert config.cohorts.pseudonymize_key_env == "LLM_COST_USER_KEY"
    assert {budget.name for budget in config.budgets} == {"support-monthly", "legal-monthly", "search-daily"}

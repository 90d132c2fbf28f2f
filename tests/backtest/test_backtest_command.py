"""`llm-cost-exporter backtest` on a short run: baseline and a retry storm over two days."""

from __future__ import annotations

import json
import shutil

import pytest

from llm_cost_exporter import cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None or shutil.which("promtool") is None,
                       reason="needs prometheus and promtool (Debian package prometheus)"),
]

MONTH_START = 1772323200  # 2026-03-01T00:00:00Z
ONSET = MONTH_START + 34 * 3600  # 2 March, 10:00 UTC


@pytest.fixture(scope="module")
def backtest_output(tmp_path_factory, repo_root):
    output = tmp_path_factory.mktemp("backtest")
    (output / "agent-loop.png").write_bytes(b"a chart of an earlier run")
    code = cli.main([
        "backtest", "--rules", str(repo_root / "alert_rules/rendered/llm-cost.rules.yml"),
        "--scenario", "baseline", "--scenario", "retry-storm",
        "--days", "2", "--warmup-days", "1", "--onset", "1d10h", "--jobs", "2",
        "--output", str(output),
    ])
    assert code == 0
    return output


def test_results_json_times(backtest_output):
    document = json.loads((backtest_output / "results.json").read_text())
    scenarios = {entry["scenario"]: entry for entry in document["scenarios"]}
    assert sorted(scenarios) == ["baseline", "retry-storm"]

    storm = scenarios["retry-storm"]
    assert storm["onset"] == ONSET
    assert storm["month_start"] == MONTH_START
    assert storm["baselines"]["invoice"] == MONTH_START + 31 * 86400
    retry_alert = storm["alerts"]["LLMRetryCostHigh"]
    assert retry_alert["severity"] == "ticket"
    # The retried timeouts must first fill the rule's 1h window, then hold for 30m.
    assert ONSET + 1800 < retry_alert["first_firing"] <= ONSET + 2 * 3600
    assert retry_alert["after_onset_seconds"] == retry_alert["first_firing"] - ONSET
    assert retry_alert["labels"]["alertname"] == "LLMRetryCostHigh"

    assert scenarios["baseline"]["onset"] is None
    assert "LLMRetryCostHigh" not in scenarios["baseline"]["alerts"]


def test_results_table_and_charts(backtest_output):
    table = (backtest_output / "results.md").read_text()
    assert "| retry-storm | 2026-03-02 10:00 | " in table
    assert "LLMRetryCostHigh" in table
    for name in ("baseline", "retry-storm"):
        chart = backtest_output / f"{name}.png"
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (backtest_output / "agent-loop.png").exists()  # left by an earlier run


def test_onset_outside_period_rejected(tmp_path, caplog):
    code = cli.main(["backtest", "--scenario", "agent-loop", "--days", "1", "--warmup-days", "0",
                     "--output", str(tmp_path)])
    assert code == 2
    assert "lies outside the backtest period" in caplog.text


def test_stale_rendered_rules_warned(tmp_path, repo_root, monkeypatch, caplog):
    from llm_cost_exporter.commands.backtest import DEFAULT_RULES, _warn_if_stale

    shutil.copytree(repo_root / "alert_rules", tmp_path / "alert_rules")
    monkeypatch.chdir(tmp_path)
    _warn_if_stale(DEFAULT_RULES)
    assert "differs from a fresh render" not in caplog.text

    values = tmp_path / "alert_rules" / "values.yaml"
    values.write_text(values.read_text().replace("factor: 3", "factor: 4", 1))
    _warn_if_stale(DEFAULT_RULES)
    assert "alert_rules/rendered/llm-cost.rules.yml differs from a fresh render" in caplog.text

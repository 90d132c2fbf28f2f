"""`reconcile` against a real Prometheus holding known gateway cost and loopback vendors with a known gap."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml

from llm_cost_exporter.vendors.reconcile import ReconcileError, Row, compare, day_bounds, format_table
from tests.support.processes import PrometheusProcess, require_binary

from .fakes import FakeAnthropic, FakeOpenAI

DAY = 86400
OPENAI_KEY = "sk-admin-reconcile-test-key"
ANTHROPIC_KEY = "sk-ant-admin01-reconcile-test-key"


def test_day_bounds_include_both_days():
    start, end = day_bounds(date(2026, 11, 1), date(2026, 11, 30), today=date(2026, 12, 3))
    assert datetime.fromtimestamp(start, timezone.utc) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert datetime.fromtimestamp(end, timezone.utc) == datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_day_bounds_reject_an_incomplete_day():
    with pytest.raises(ReconcileError, match="not a complete UTC day"):
        day_bounds(date(2026, 12, 1), date(2026, 12, 3), today=date(2026, 12, 3))


def test_gap_is_relative_to_the_vendor():
    rows = compare({"openai": 90.0, "mistral": 4.0}, {"openai": 100.0, "anthropic": 10.0})
    gaps = {row.provider: row.gap_percent for row in rows}
    assert gaps == {"anthropic": -100.0, "mistral": None, "openai": pytest.approx(-10.0)}
    assert Row("x", 1.0, 0.0).gap_percent == float("inf")
    assert "openai" in format_table(rows)


def backfill(workdir, first_day: float, days: int, per_day: dict[str, float]) -> None:
    """Write llm_cost_usd_total samples every minute from an hour before `first_day` to an hour after the
    last day, rising by per_day[provider] USD per day, as TSDB blocks Prometheus loads at start."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = ["# HELP llm_cost_usd Cost in USD by token type.", "# TYPE llm_cost_usd counter"]
    for provider, rate in per_day.items():
        value = 10.0
        for moment in range(int(first_day) - 3600, int(first_day) + days * DAY + 3600 + 1, 60):
            lines.append(f'llm_cost_usd_total{{job="llm-cost-exporter",provider="{provider}",model="m",'
                         f'token_type="input"}} {value!r} {moment}')
            value += rate * 60 / DAY
    lines.append("# EOF")
    source = workdir / "backfill.om"
    source.write_text("\n".join(lines) + "\n")
    subprocess.run([require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source),
                    str(workdir / "data")], check=True, capture_output=True, timeout=120)


def run_reconcile(config_path, prometheus_url: str, first: date, last: date, *extra: str):
    argv = [sys.executable, "-m", "llm_cost_exporter", "reconcile", "--config", str(config_path),
            "--from", first.isoformat(), "--to", last.isoformat(), "--prometheus", prometheus_url, *extra]
    env = {"PATH": "/usr/bin:/bin", "T_OPENAI": OPENAI_KEY, "T_ANTHROPIC": ANTHROPIC_KEY}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def table(stdout: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines()[2:]}


@pytest.mark.slow
def test_reconcile_reports_the_known_gap(tmp_path):
    today = datetime.now(timezone.utc).date()
    first, last = today - timedelta(days=3), today - timedelta(days=2)
    first_day = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp()
    backfill(tmp_path / "prometheus", first_day, 2, {"openai": 100.0, "anthropic": 25.0})

    openai = FakeOpenAI(OPENAI_KEY, time.time)
    anthropic = FakeAnthropic(ANTHROPIC_KEY, time.time)
    # Vendor truth: OpenAI billed 10% more than the gateway computed, Anthropic 1% more.
    openai.costs = {int(first_day): [{"amount": {"value": 110.0, "currency": "usd"}, "line_item": "gpt-4o, input",
                                      "project_id": "proj_a"}],
                    int(first_day) + DAY: [{"amount": {"value": 100.0, "currency": "usd"},
                                            "line_item": "gpt-4o, input", "project_id": "proj_a"},
                                           {"amount": {"value": 10.0, "currency": "usd"},
                                            "line_item": "gpt-4o, output", "project_id": None}],
                    int(first_day) + 2 * DAY: [{"amount": {"value": 999.0, "currency": "usd"},
                                                "line_item": "outside the range", "project_id": None}]}
    anthropic.costs = {int(first_day): [{"amount": "2525", "currency": "USD", "description": "Input Tokens",
                                         "workspace_id": None}],
                       int(first_day) + DAY: [{"amount": "2525", "currency": "USD", "description": "Input Tokens",
                                               "workspace_id": None}]}
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({"sources": [
        {"name": "openai", "type": "openai_usage", "base_url": f"{openai.url}/v1", "api_key_env": "T_OPENAI"},
        {"name": "anthropic", "type": "anthropic_usage", "base_url": anthropic.url, "api_key_env": "T_ANTHROPIC"},
    ]}))
    try:
        with PrometheusProcess(tmp_path / "prometheus", scrape_configs=[]) as prometheus:
            strict = run_reconcile(config_path, prometheus.url, first, last, "--max-gap", "5")
            lenient = run_reconcile(config_path, prometheus.url, first, last, "--max-gap", "10")
    finally:
        openai.stop()
        anthropic.stop()

    assert strict.returncode == 1, strict.stderr
    rows = table(strict.stdout)
    assert float(rows["openai"][0]) == pytest.approx(200.0, abs=1e-3)
    assert float(rows["openai"][1]) == pytest.approx(220.0)
    assert rows["openai"][2] == "-9.09"
    assert float(rows["anthropic"][0]) == pytest.approx(50.0, abs=1e-3)
    assert float(rows["anthropic"][1]) == pytest.approx(50.5)
    assert rows["anthropic"][2] == "-0.99"
    assert "gap above 5% for: openai" in strict.stderr
    assert lenient.returncode == 0, lenient.stderr


def test_reconcile_rejects_today(tmp_path):
    config_path = tmp_path / "config.yaml"
    config_path.write_text("sources: []\n")
    today = datetime.now(timezone.utc).date()
    result = run_reconcile(config_path, "http://127.0.0.1:9", today, today)
    assert result.returncode == 2
    assert "not a complete UTC day" in result.stderr

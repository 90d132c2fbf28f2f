"""Run every promtool unit test suite under alert_rules/tests against the rendered rules."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from .conftest import ALERT_RULES, RENDERED_RULES, require_tool

SUITES = sorted((ALERT_RULES / "tests").glob("*.test.yml"))


def test_suites_cover_every_alert():
    rendered = yaml.safe_load(RENDERED_RULES.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rendered["groups"] for rule in group["rules"] if "alert" in rule}
    tested: set[str] = set()
    for suite in SUITES:
        for test_group in yaml.safe_load(suite.read_text(encoding="utf-8"))["tests"]:
            for case in test_group.get("alert_rule_test") or []:
                if case.get("exp_alerts"):
                    tested.add(case["alertname"])
    assert sorted(alerts - tested) == []


def test_generated_suites_are_current(tmp_path):
    generator = ALERT_RULES / "tests" / "generate_suites.py"
    result = subprocess.run([sys.executable, str(generator), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for generated in sorted(tmp_path.glob("*.test.yml")):
        committed = ALERT_RULES / "tests" / generated.name
        assert committed.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), (
            f"{committed.name} is stale: run python alert_rules/tests/generate_suites.py"
        )


@pytest.mark.parametrize("suite", SUITES, ids=[suite.name for suite in SUITES])
def test_promtool_suite(suite):
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", suite.name],
        cwd=suite.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_rules_pass_promtool_lint():
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", str(RENDERED_RULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""Run every promtool unit test suite under alert_rules/tests against the rendered rules."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import ALERT_RULES, RENDERED_RULES, require_tool

SUITES = sorted((ALERT_RULES / "tests").glob("*.test.yml"))


def test_suites_exist():
    assert len(SUITES) >= 10, [suite.name for suite in SUITES]


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

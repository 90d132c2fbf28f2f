"""Shared paths and tool checks for the alert rule tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ALERT_RULES = REPO / "alert_rules"
RENDERED_RULES = ALERT_RULES / "rendered" / "llm-cost.rules.yml"
PROMETHEUS_RULE = REPO / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
RUNBOOKS = REPO / "docs" / "runbooks"


def require_tool(name: str) -> str:
    """Return the path of a command-line tool, or fail with how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH: install the Debian packages prometheus and prometheus-alertmanager")
    return path

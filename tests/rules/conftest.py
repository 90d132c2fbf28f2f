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


def alertmanager_config_for_test(
    receiver_base_url: str,
    secrets_dir: Path,
    breaker_url: str | None = None,
    breaker_token: str = "test-webhook-token",
) -> dict:
    """Return deploy/alertmanager/alertmanager.yml with every receiver sent to loopback.

    Routes, grouping, inhibitions and templates stay as shipped. PagerDuty goes to
    `{receiver_base_url}/pagerduty`, Slack to `/slack` and the breaker to `/breaker`.
    With `breaker_url`, the shipped breaker webhook goes there instead (an exporter's
    breaker API) and a copy goes to `/breaker`. The PagerDuty routing key and the
    breaker token are written to files in `secrets_dir`.
    """
    import yaml

    config = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    config["templates"] = [str(ALERTMANAGER_DIR / pattern) for pattern in config["templates"]]
    key_file = secrets_dir / "pagerduty-routing-key"
    key_file.write_text("test-routing-key\n", encoding="utf-8")
    for receiver in config["receivers"]:
        for pagerduty in receiver.get("pagerduty_configs", []):
            pagerduty["routing_key_file"] = str(key_file)
            pagerduty["url"] = f"{receiver_base_url}/pagerduty"
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = f"{receiver_base_url}/slack"
        webhooks = receiver.get("webhook_configs", [])
        for webhook in webhooks:
            webhook["url"] = breaker_url or f"{receiver_base_url}/breaker"
            token_file = secrets_dir / "breaker-webhook-token"
            token_file.write_text(breaker_token + "\n", encoding="utf-8")
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
        if breaker_url and webhooks:
            copy = {**webhooks[0], "url": f"{receiver_base_url}/breaker"}
            webhooks.append(copy)
    return config

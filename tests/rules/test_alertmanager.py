"""Check deploy/alertmanager: the config, its route tree and its inhibition rules."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone

import pytest
import requests

from .conftest import ALERTMANAGER_DIR, alertmanager_config_for_test, require_tool

CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"

# (labels of an alert, receivers it must reach in this order)
ROUTES = [
    ({"alertname": "LLMSpendBurnRateHigh", "severity": "page", "breaker": "true", "feature": "search"},
     "llm-breaker,cost-pager"),
    ({"alertname": "LLMBudgetExhausted", "severity": "page", "budget": "search-monthly", "period": "month"},
     "cost-pager"),
    ({"alertname": "LLMCostExporterDown", "severity": "page", "scope": "job"}, "cost-pager"),
    ({"alertname": "LLMBudgetProjectedOverrun", "severity": "ticket", "budget": "search-monthly"}, "cost-tickets"),
    ({"alertname": "LLMCacheHitRatioDrop", "severity": "ticket", "feature": "search"}, "cost-tickets"),
    ({"alertname": "SomethingElse"}, "cost-tickets"),
]


def test_config_passes_amtool_check():
    amtool = require_tool("amtool")
    result = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 templates" in result.stdout


@pytest.mark.parametrize("labels, receivers", ROUTES, ids=[labels["alertname"] for labels, _ in ROUTES])
def test_route_reaches_receivers(labels, receivers):
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receivers}",
         *(f"{name}={value}" for name, value in labels.items())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def _alert(name: str, **labels: str) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": name, "description": name, "runbook_url": "http://127.0.0.1/runbook"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


@pytest.mark.slow
def test_inhibition_rules(tmp_path):
    from tests.support.processes import AlertmanagerProcess, wait_until

    config = alertmanager_config_for_test("http://127.0.0.1:9", tmp_path)
    alerts = [
        _alert("LLMBudgetExhausted", severity="page", budget="a", period="month"),
        _alert("LLMBudgetProjectedOverrun", severity="ticket", budget="a", period="month"),
        _alert("LLMBudgetProjectedOverrun", severity="ticket", budget="b", period="month"),
        # Every exporter of cluster east is down: its data alerts are muted, other clusters' are not.
        _alert("LLMCostExporterDown", severity="page", scope="job", job="llm-cost-exporter", cluster="east"),
        _alert("LLMSpendBurnRateHigh", severity="page", breaker="true", feature="search", cluster="east"),
        _alert("LLMSpendBurnRateHigh", severity="page", breaker="true", feature="search", cluster="west"),
        _alert("LLMCostExporterDown", severity="ticket", scope="instance", instance="gw-1:9841"),
        _alert("LLMCostSourceStale", severity="ticket", instance="gw-1:9841", source="gateway"),
        _alert("LLMCostSourceStale", severity="ticket", instance="gw-2:9841", source="gateway"),
    ]
    with AlertmanagerProcess(tmp_path / "am", config) as alertmanager:
        requests.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10).raise_for_status()

        def states() -> dict[tuple, str] | None:
            found = {
                tuple(sorted(a["labels"].items())): a["status"]["state"] for a in alertmanager.alerts()
            }
            return found if len(found) == len(alerts) else None

        wait_until(states, timeout=10, what="all posted alerts")
        result = {dict(key)["alertname"] + ":" + ",".join(f"{k}={v}" for k, v in key if k not in
                  ("alertname", "severity")): state for key, state in states().items()}

    assert result["LLMBudgetProjectedOverrun:budget=a,period=month"] == "suppressed"
    assert result["LLMBudgetProjectedOverrun:budget=b,period=month"] == "active"
    assert result["LLMSpendBurnRateHigh:breaker=true,cluster=east,feature=search"] == "suppressed"
    assert result["LLMSpendBurnRateHigh:breaker=true,cluster=west,feature=search"] == "active"
    assert result["LLMCostSourceStale:instance=gw-1:9841,source=gateway"] == "suppressed"
    assert result["LLMCostSourceStale:instance=gw-2:9841,source=gateway"] == "active"
    assert result["LLMBudgetExhausted:budget=a,period=month"] == "active"

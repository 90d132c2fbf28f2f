"""End to end: exporter, Prometheus with the rendered rules, Alertmanager and receivers.

The exporter tails a gateway log that the test writes in real time: 45 seconds of
steady spend on feature search, then a spend spike of about 30x. Prometheus scrapes
the exporter every second and evaluates rules rendered with second-scale windows.
Alertmanager routes with the shipped route tree to receivers on loopback, where the
test checks the page and the breaker notification. The breaker webhook also reaches
the exporter's own breaker API, which must then hold feature search open.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from llm_cost_exporter.rules import render

from .conftest import ALERT_RULES, alertmanager_config_for_test

# Second-scale windows; every other value stays as shipped.
SHORT_WINDOWS = {
    "interval": "1s",
    "baseline_interval": "1s",
    "alerts": {
        "LLMSpendBurnRateHigh": {
            "short_window": "5s",
            "long_window": "15s",
            "baseline_window": "10m",
            "for": "2s",
            "keep_firing_for": "1m",
            "min_spend_usd_per_hour": 1,
        },
        "LLMBudgetExhausted": {"for": "1s"},
    },
}
BUDGET_USD = 5
NORMAL_SECONDS = 45
SPIKE_TIMEOUT = 90


class GatewayLog:
    """Append native-format model calls to a log file from a background thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.spiking = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _line(self, output_tokens: int) -> str:
        call = {
            "ts": time.time(),
            "kind": "model",
            "request_id": uuid.uuid4().hex,
            "call_id": uuid.uuid4().hex,
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 0,
            "output_tokens": output_tokens,
            "status": "ok",
            "feature": "search",
            "intent": "qa",
        }
        return json.dumps(call) + "\n"

    def _run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as log:
            while not self.stopped.is_set():
                # Steady: 4 calls/s at 0.0025 USD (36 USD/h). Spike: 12 calls/s at 0.025 USD (1080 USD/h).
                if self.spiking.is_set():
                    log.writelines(self._line(2500) for _ in range(3))
                else:
                    log.write(self._line(250))
                log.flush()
                time.sleep(0.25)

    def __enter__(self) -> GatewayLog:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def _fast_timing(config: dict) -> dict:
    """Shorten the grouping waits so the test sees notifications within seconds."""
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"] = "1s"
        route["group_interval"] = "2s"
        route["repeat_interval"] = "1m"
    return config


def _alertmanager_yaml(httpserver, secrets_dir: Path, exporter_url: str) -> str:
    config = alertmanager_config_for_test(httpserver.url_for("").rstrip("/"), secrets_dir,
                                          breaker_url=f"{exporter_url}/api/v1/breaker/alerts")
    return yaml.safe_dump(_fast_timing(config))


def _requests_to(httpserver, path: str) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == path]


@pytest.mark.slow
def test_spike_pages_and_opens_breaker(tmp_path, httpserver):
    from tests.support.processes import (
        AlertmanagerProcess,
        ExporterProcess,
        PrometheusProcess,
        wait_until,
    )

    for path in ("/pagerduty", "/breaker", "/slack"):
        httpserver.expect_request(path, method="POST").respond_with_json({"status": "success"}, status=202)

    rendered = render(ALERT_RULES / "templates", ALERT_RULES / "values.yaml", SHORT_WINDOWS)
    rules_path = tmp_path / "llm-cost.rules.yml"
    rules_path.write_text(rendered.rules_text, encoding="utf-8")

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    exporter_config = {
        "sources": [{"name": "gateway", "type": "file", "path": str(log_dir / "*.jsonl"),
                     "format": "native", "start_at": "beginning"}],
        "pricing": {"overrides": [{"provider": "openai", "model": "gpt-4o", "input": 2.5, "cache_read": 1.25,
                                   "cache_write": 0, "output": 10}]},
        "requests": {"idle_timeout": "5s"},
        "budgets": [{"name": "search-monthly", "match": {"feature": "search"}, "period": "month",
                     "amount_usd": BUDGET_USD, "timezone": "UTC"}],
        "breaker": {"enabled": True, "webhook_token_file": str(tmp_path / "webhook-token"),
                    "gateway_token_file": str(tmp_path / "gateway-token")},
    }
    (tmp_path / "webhook-token").write_text("test-webhook-token\n", encoding="utf-8")
    (tmp_path / "gateway-token").write_text("test-gateway-token\n", encoding="utf-8")

    with (
        GatewayLog(log_dir / "gateway.jsonl") as gateway,
        ExporterProcess(tmp_path / "exporter", exporter_config, env={"LLM_COST_USER_KEY": "test-key"}) as exporter,
        AlertmanagerProcess(tmp_path / "alertmanager", _alertmanager_yaml(httpserver, tmp_path, exporter.url))
        as alertmanager,
        PrometheusProcess(
            tmp_path / "prometheus",
            [PrometheusProcess.scrape_config("llm-cost-exporter", [exporter.address])],
            rule_files=[rules_path],
            alertmanagers=[alertmanager.address],
        ) as prometheus,
    ):
        wait_until(prometheus.targets_up, timeout=20, what="the exporter scraped")
        time.sleep(NORMAL_SECONDS)
        assert _requests_to(httpserver, "/breaker") == [], "the breaker was notified before the spike"

        gateway.spiking.set()
        breaker = wait_until(lambda: _requests_to(httpserver, "/breaker"), timeout=SPIKE_TIMEOUT,
                             what="the breaker webhook notification")
        breaker_auth = [request.headers.get("Authorization") for request, _ in httpserver.log
                        if request.path == "/breaker"]
        pages = wait_until(
            lambda: [
                page for page in _requests_to(httpserver, "/pagerduty")
                if "LLMSpendBurnRateHigh" in page["payload"]["summary"]
            ],
            timeout=30,
            what="the burn-rate page",
        )
        budget_pages = wait_until(
            lambda: [
                page for page in _requests_to(httpserver, "/pagerduty")
                if "LLMBudgetExhausted" in page["payload"]["summary"]
            ],
            timeout=60,
            what="the budget page",
        )
        firing = {alert["labels"]["alertname"] for alert in prometheus.alerts() if alert["state"] == "firing"}
        open_keys = wait_until(
            lambda: requests.get(f"{exporter.url}/api/v1/breaker/keys", timeout=5,
                                 headers={"Authorization": "Bearer test-gateway-token"}).json(),
            timeout=10,
            what="an open key in the exporter's breaker",
        )
        metrics = exporter.metrics_text()

    assert "LLMSpendBurnRateHigh" in firing

    assert breaker_auth[0] == "Bearer test-webhook-token"
    alert = breaker[0]["alerts"][0]
    assert breaker[0]["status"] == "firing"
    assert alert["labels"]["alertname"] == "LLMSpendBurnRateHigh"
    assert alert["labels"]["breaker"] == "true"
    assert alert["labels"]["feature"] == "search"
    assert alert["labels"]["severity"] == "page"
    assert alert["labels"]["breaker_scope"] == "feature"

    page = pages[0]
    assert page["routing_key"] == "test-routing-key"
    assert page["event_action"] == "trigger"
    details = page["payload"]["custom_details"]["firing"]
    assert 'Spend of feature="search" is above 3x its 10m average' in details
    assert "Top feature: search" in details
    assert "Runbook: https://" in details
    assert "/LLMSpendBurnRateHigh.md" in details
    assert page["links"][0]["href"].endswith("/LLMSpendBurnRateHigh.md")

    assert 'llm_breaker_open{key="search",scope="feature"} 1.0' in metrics, open_keys

    budget_details = budget_pages[0]["payload"]["custom_details"]["firing"]
    assert f"Budget: {BUDGET_USD} USD" in budget_details
    assert "Budget search-monthly is spent for this month" in budget_details

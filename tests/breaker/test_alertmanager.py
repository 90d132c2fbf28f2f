"""Real Alertmanager delivering real webhook notifications to the breaker of a running exporter."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.support.processes import AlertmanagerProcess, ExporterProcess, free_port, wait_until

from .conftest import GATEWAY_TOKEN, make_breaker_config

pytestmark = pytest.mark.slow

LABELS = {"alertname": "LLMSpendBurnRateHigh", "severity": "page", "breaker": "true", "breaker_scope": "feature",
          "feature": "search"}


def alertmanager_config(exporter_url: str, token_file: Path) -> dict:
    """The breaker route of deploy/alertmanager/alertmanager.yml, with intervals shortened for a test."""
    return {
        "route": {
            "receiver": "blackhole",
            "group_by": ["alertname"],
            "routes": [{
                "receiver": "llm-breaker", "matchers": ['breaker="true"'], "group_by": ["..."],
                "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h", "continue": True,
            }],
        },
        "receivers": [
            {"name": "blackhole"},
            {"name": "llm-breaker", "webhook_configs": [{
                "url": f"{exporter_url}/api/v1/breaker/alerts", "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
            }]},
        ],
    }


def send_alert(alertmanager: AlertmanagerProcess, resolved: bool = False) -> None:
    """Post the alert to Alertmanager's API as Prometheus does; an end time in the past resolves it."""
    now = datetime.now(timezone.utc)
    ends = now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)
    alert = {"labels": LABELS, "annotations": {"summary": "feature search spends 4x its 7d average"},
             "startsAt": (now - timedelta(minutes=5)).isoformat(), "endsAt": ends.isoformat()}
    response = requests.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=5)
    response.raise_for_status()


def check_status(exporter: ExporterProcess) -> int:
    response = requests.get(f"{exporter.url}/api/v1/breaker/keys/key-1", params={"feature": "search"},
                            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"}, timeout=5)
    return response.status_code


def wait_status(exporter: ExporterProcess, status: int, timeout: float = 20) -> None:
    wait_until(lambda: check_status(exporter) == status, timeout, what=f"breaker check answering {status}")


def test_firing_then_resolved(tmp_path):
    config = make_breaker_config(tmp_path)
    with ExporterProcess(tmp_path / "exporter", config) as exporter, \
            AlertmanagerProcess(tmp_path / "am", alertmanager_config(exporter.url, tmp_path / "webhook.token")) as am:
        assert check_status(exporter) == 200
        send_alert(am)
        wait_status(exporter, 429)
        assert 'llm_breaker_open{key="search",scope="feature"} 1.0' in exporter.metrics_text()

        send_alert(am, resolved=True)
        wait_status(exporter, 200)
        metrics = exporter.metrics_text()
        assert "llm_breaker_open{" not in metrics
        assert 'llm_breaker_notifications_total{result="accepted"} 2.0' in metrics


def test_wrong_token_rejected(tmp_path):
    config = make_breaker_config(tmp_path)
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-webhook-token\n")
    with ExporterProcess(tmp_path / "exporter", config) as exporter, \
            AlertmanagerProcess(tmp_path / "am", alertmanager_config(exporter.url, wrong)) as am:
        send_alert(am)
        wait_until(lambda: 'llm_breaker_notifications_total{result="unauthorized"} 0.0' not in exporter.metrics_text(),
                   20, what="Alertmanager's notification with the wrong token")
        assert check_status(exporter) == 200
        assert "llm_breaker_open{" not in exporter.metrics_text()


def test_hold_expires_while_alert_fires(tmp_path):
    config = make_breaker_config(tmp_path, ttl="3s")
    with ExporterProcess(tmp_path / "exporter", config) as exporter, \
            AlertmanagerProcess(tmp_path / "am", alertmanager_config(exporter.url, tmp_path / "webhook.token")) as am:
        send_alert(am)
        wait_status(exporter, 429)
        opened = time.monotonic()
        wait_status(exporter, 200, timeout=10)
        # Alertmanager repeats the notification only after an hour, so the hold ran out on its own.
        assert time.monotonic() - opened <= 3.5
        assert am.alerts()[0]["status"]["state"] == "active"


def test_hold_survives_restart(tmp_path):
    config = make_breaker_config(tmp_path, port=free_port())
    token_file = tmp_path / "webhook.token"
    exporter = ExporterProcess(tmp_path / "exporter", config)
    with AlertmanagerProcess(tmp_path / "am", alertmanager_config(exporter.url, token_file)) as am:
        try:
            send_alert(am)
            wait_status(exporter, 429)
        finally:
            assert exporter.stop() == 0

        with ExporterProcess(tmp_path / "exporter", config) as restarted:
            assert check_status(restarted) == 429
            assert 'llm_breaker_open{key="search",scope="feature"} 1.0' in restarted.metrics_text()
            send_alert(am, resolved=True)
            wait_status(restarted, 200)

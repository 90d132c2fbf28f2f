"""`serve` as a real process: scraped by a real Prometheus, checked by promtool, stopped by SIGTERM."""

from __future__ import annotations

import math
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests

from tests.support.processes import ExporterProcess, PrometheusProcess, require_binary, wait_until

from .exposition_parsing import total

PRICES = {"input": 2.5, "cache_read": 1.25, "cache_write": 3.75, "output": 10.0}
CONFIG = {
    "pricing": {"overrides": [{"provider": "openai", "model": "gpt-4o", **PRICES}]},
    "state": {"checkpoint_interval": "200ms"},
}


def write_calls(path: Path, count: int, rng: random.Random, start: float) -> float:
    """Append `count` model calls and return their cost, computed here from the prices."""
    costs = []
    with open(path, "ab") as log:
        for index in range(count):
            tokens = {name: rng.randint(0, 3000) for name in ("input", "cache_read", "cache_write", "output")}
            record = {"ts": start + index * 0.01, "kind": "model", "request_id": f"r{rng.getrandbits(40)}",
                      "provider": "openai", "model": "gpt-4o", "feature": rng.choice(["search", "chat"]),
                      **{f"{name}_tokens": value for name, value in tokens.items()}}
            log.write(orjson.dumps(record) + b"\n")
            costs.append(math.fsum(tokens[name] * PRICES[name] for name in tokens) / 1e6)
    return math.fsum(costs)


def config_for(tmp_path: Path, **extra) -> dict:
    return {**CONFIG, "sources": [{"name": "gateway", "type": "file", "path": str(tmp_path / "logs" / "*.jsonl"),
                                   "poll_interval": "100ms"}],
            "state": {"path": str(tmp_path / "state.db"), "checkpoint_interval": "200ms"}, **extra}


@pytest.mark.slow
def test_prometheus_scrapes_live_cost(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(7)
    expected = 0.0
    with ExporterProcess(tmp_path / "exporter", config_for(tmp_path)) as exporter, \
            PrometheusProcess(tmp_path / "prometheus",
                              [PrometheusProcess.scrape_config("llm-cost-exporter", [exporter.address],
                                                               scrape_interval="1s")]) as prometheus:
        wait_until(prometheus.targets_up, 30, what="Prometheus target up")
        start = time.time()
        for burst in range(5):
            expected += write_calls(logs / f"gateway-{burst % 2}.jsonl", 400, rng, start + burst * 10)
            time.sleep(0.3)

        def scraped_total():
            value = prometheus.query_value('sum(llm_cost_usd_total{job="llm-cost-exporter"})')
            return value is not None and abs(value - expected) <= 1e-9 * expected

        wait_until(scraped_total, 30, what=f"Prometheus to see {expected} USD")
        calls = prometheus.query_value('sum(llm_calls_total{job="llm-cost-exporter"})')
        assert calls == 2000
        assert prometheus.query_value('llm_exporter_source_up{source="gateway"}') == 1


@pytest.mark.slow
def test_busy_exposition_passes_promtool(tmp_path):
    promtool = require_binary("promtool")
    log = tmp_path / "busy.jsonl"
    subprocess.run([sys.executable, "-m", "llm_cost_exporter", "simulate", "--seed", "3", "--events", "30000",
                    "--start", "2026-11-30T00:00:00Z", "--output", str(log)], check=True, timeout=300)
    config = tmp_path / "config.yaml"
    config.write_text("budgets: [{name: all, period: month, amount_usd: 1000}]\n")
    exposition = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "replay", "--config", str(config),
                                 str(log)], check=True, capture_output=True, timeout=300).stdout
    assert total(exposition.decode(), "llm_exporter_events_total", result="accepted") == 30000

    for name in ("llm_tokens_total", "llm_request_cost_usd_bucket", "llm_user_spend_usd", "llm_retries_total",
                 "llm_tool_calls_total", "llm_prompt_prefixes", "llm_budget_spend_usd", "llm_top_user_spend_usd"):
        assert name.encode() in exposition, name
    checked = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=120)
    assert checked.returncode == 0
    assert checked.stdout == b""
    assert checked.stderr == b""


def test_http_endpoints_and_negotiation(tmp_path):
    (tmp_path / "logs").mkdir()
    with ExporterProcess(tmp_path / "exporter", config_for(tmp_path)) as exporter:
        assert requests.get(f"{exporter.url}/healthz", timeout=5).text == "ok\n"
        assert requests.get(f"{exporter.url}/readyz", timeout=5).status_code == 200
        assert requests.get(f"{exporter.url}/nope", timeout=5).status_code == 404

        text = requests.get(f"{exporter.url}/metrics", timeout=5)
        assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'llm_exporter_build_info{pricing_version="genai-prices 0.2.3"' in text.text

        open_metrics = requests.get(f"{exporter.url}/metrics", timeout=5,
                                    headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
        assert open_metrics.text.endswith("# EOF\n")

        with requests.Session() as session:  # one kept-alive connection: HEAD, then GET
            head = session.head(f"{exporter.url}/metrics", timeout=5)
            assert head.status_code == 200
            assert int(head.headers["Content-Length"]) > 0
            assert head.content == b""
            assert session.get(f"{exporter.url}/healthz", timeout=5).text == "ok\n"
    assert "no file matches" in exporter.log_path.read_text()


def test_taken_port_reported(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "config.yaml"
        path.write_text(f'server: {{listen: "127.0.0.1:{port}"}}\nstate: {{path: "{tmp_path / "state.db"}"}}\n')
        result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "serve", "--config", str(path)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "set another listen address" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_cleanly_and_restart_continues(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(11)
    first = write_calls(logs / "a.jsonl", 300, rng, 1_796_000_000)
    config = config_for(tmp_path)

    exporter = ExporterProcess(tmp_path / "run1", config)
    wait_until(lambda: total(exporter.metrics_text(), "llm_calls_total") == 300, 20, what="300 calls counted")
    exporter.signal(signal.SIGTERM)
    assert exporter.proc.wait(20) == 0
    exporter.stop()
    log_text = exporter.log_path.read_text()
    assert "listening on http://" in log_text
    assert "received SIGTERM; stopping" in log_text
    assert "stopped; state saved to" in log_text

    second = write_calls(logs / "a.jsonl", 200, rng, 1_796_000_100)
    with ExporterProcess(tmp_path / "run2", config) as restarted:
        wait_until(lambda: total(restarted.metrics_text(), "llm_calls_total") == 500, 20, what="500 calls counted")
        text = restarted.metrics_text()
    assert total(text, "llm_cost_usd_total") == pytest.approx(first + second, rel=1e-12)
    assert total(text, "llm_exporter_events_total", result="accepted") == 500


def test_invalid_config_exits_with_message(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sources: [{name: gw, type: file}]\n")
    result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "sources[0].path: missing; this key is required" in result.stderr


def test_corrupt_state_database_reported(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    path = tmp_path / "config.yaml"
    path.write_text(f'state: {{path: "{tmp_path / "state.db"}"}}\n')
    result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot open the state database" in result.stderr
    assert "move the file away" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_reads_gzip_logs(tmp_path):
    import gzip

    log = tmp_path / "gateway.jsonl.1"  # rotated and compressed, with no .gz suffix
    with gzip.open(log, "wb") as stream:
        stream.write(b'{"ts": 1796119200, "kind": "model", "provider": "openai", "model": "gpt-4o", '
                     b'"input_tokens": 1000000}\n')
    config = tmp_path / "config.yaml"
    config.write_text("")
    result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "replay", "--config", str(config), str(log)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert total(result.stdout, "llm_cost_usd_total") == 2.5

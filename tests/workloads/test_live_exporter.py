"""Live simulate output tailed by a running exporter: every appended line is counted."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ExporterProcess, wait_until

from .conftest import read_lines


def sample_value(metrics: str, name: str, **labels: str) -> float:
    """Return the sum of the samples of metric `name` that have all of `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{label}="{value}"' in line for label, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_exporter_counts_live_lines(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    gateway_log = log_dir / "gateway.jsonl"
    config = {
        "sources": [
            {
                "name": "gateway",
                "type": "file",
                "path": str(log_dir / "*.jsonl"),
                "format": "native",
                "start_at": "beginning",
            }
        ],
        "requests": {"idle_timeout": "120s"},
    }
    with ExporterProcess(tmp_path / "exporter", config, env={"LLM_COST_USER_KEY": "test-key"}) as exporter:
        simulate = subprocess.run(
            [sys.executable, "-m", "llm_cost_exporter.cli", "simulate", "--rate", "100", "--duration", "2s",
             "--output", str(gateway_log)],
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip
        assert simulate.returncode == 0, simulate.stderr
        records = read_lines(gateway_log)
        assert len(records) == 200

        wait_until(
            lambda: sample_value(
                exporter.metrics_text(), "llm_exporter_events_total", result="accepted", source="gateway"
            )
            == 200,
            timeout=20,
            what="200 accepted events",
        )
        metrics = exporter.metrics_text()

    model_calls = sum(1 for r in records if r["kind"] == "model")
    tool_calls = sum(1 for r in records if r["kind"] == "tool")
    assert sample_value(metrics, "llm_calls_total") == model_calls
    assert sample_value(metrics, "llm_tool_calls_total") == tool_calls
    output_tokens = sum(r["output_tokens"] for r in records if r["kind"] == "model")
    assert sample_value(metrics, "llm_tokens_total", token_type="output") == output_tokens

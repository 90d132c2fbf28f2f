"""End to end on real production traces: import-trace, then replay, then compare with an
independent computation made here from the raw trace files."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from .exposition_parsing import total, totals_by

pytestmark = pytest.mark.datasets

# USD per million tokens, as the acceptance criterion fixes them.
INPUT, CACHE_READ, OUTPUT = 2.50, 1.25, 10.00
CONFIG = f"""
pricing:
  overrides:
    - {{provider: openai, model: gpt-4o, input: {INPUT}, cache_read: {CACHE_READ}, cache_write: 0, output: {OUTPUT}}}
"""
START = "2026-11-02T00:00:00Z"


def cli(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def import_and_replay(tmp_path: Path, trace: Path, trace_format: str, *options: str) -> str:
    log = tmp_path / f"{trace.stem}.jsonl"
    cli("import-trace", "--format", trace_format, "--provider", "openai", "--model", "gpt-4o",
        *options, "--output", str(log), str(trace))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    exposition = tmp_path / "metrics.prom"
    cli("replay", "--config", str(config), "--output", str(exposition), str(log))
    return exposition.read_text()


def expected_mooncake(path: Path, ttl: float = 300, block_size: int = 512) -> tuple[int, dict[str, int]]:
    """Rows and token totals by type, following the Mooncake cache rule written independently here."""
    last_used: dict[int, float] = {}
    tokens = {"input": 0, "cache_read": 0, "cache_write": 0, "output": 0}
    rows = 0
    for line in path.read_bytes().splitlines():
        row = orjson.loads(line)
        ts = row["timestamp"] / 1000
        live = 0
        for hash_id in row["hash_ids"]:
            if hash_id in last_used and ts - last_used[hash_id] <= ttl:
                live += 1
            else:
                break
        cached = min(live * block_size, row["input_length"])
        tokens["cache_read"] += cached
        tokens["input"] += row["input_length"] - cached
        tokens["output"] += row["output_length"]
        for hash_id in row["hash_ids"]:
            last_used[hash_id] = ts
        rows += 1
    return rows, tokens


def expected_azure(path: Path) -> tuple[int, dict[str, int]]:
    tokens = {"input": 0, "cache_read": 0, "cache_write": 0, "output": 0}
    rows = 0
    with open(path, newline="") as stream:
        for row in csv.DictReader(stream):
            tokens["input"] += int(row["ContextTokens"])
            tokens["output"] += int(row["GeneratedTokens"])
            rows += 1
    return rows, tokens


def cost_of(tokens: dict[str, int]) -> float:
    return math.fsum([tokens["input"] * INPUT, tokens["cache_read"] * CACHE_READ,
                      tokens["output"] * OUTPUT]) / 1_000_000


def check_exposition(text: str, rows: int, tokens: dict[str, int]) -> None:
    expected_cost = cost_of(tokens)
    assert total(text, "llm_cost_usd_total") == pytest.approx(expected_cost, rel=1e-9)
    assert totals_by(text, "llm_tokens_total", "token_type") == {key: float(value) for key, value in tokens.items()}
    assert total(text, "llm_request_cost_usd_count") == rows
    assert total(text, "llm_request_cost_usd_sum") == pytest.approx(expected_cost, rel=1e-9)
    assert total(text, "llm_exporter_events_total", result="accepted") == rows
    assert total(text, "llm_exporter_events_rejected_total") == 0


def test_mooncake_trace_end_to_end(tmp_path, datasets_dir):
    trace = datasets_dir / "mooncake_conversation_trace.jsonl"
    text = import_and_replay(tmp_path, trace, "mooncake", "--start", START)
    rows, tokens = expected_mooncake(trace)
    assert tokens["cache_read"] > 0  # the trace reuses prefixes, so the cache rule matters
    check_exposition(text, rows, tokens)


@pytest.mark.parametrize("name", ["azure_llm_inference_2023_code.csv", "azure_llm_inference_2023_conv.csv"])
def test_azure_trace_end_to_end(tmp_path, datasets_dir, name):
    trace = datasets_dir / name
    text = import_and_replay(tmp_path, trace, "azure-llm-2023", "--start", START)
    rows, tokens = expected_azure(trace)
    check_exposition(text, rows, tokens)

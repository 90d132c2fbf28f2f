"""import-trace on hand-made traces with worked-out expectations, and on the public traces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from .conftest import read_lines, run_cli

START = "2026-01-05T00:00:00Z"
MOONCAKE = ["--format", "mooncake", "--start", START, "--provider", "openai", "--model", "gpt-4o"]
AZURE = ["--format", "azure-llm-2023", "--provider", "openai", "--model", "gpt-4o-mini"]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def tokens(record: dict) -> tuple[int, int, int, int]:
    return (
        record["input_tokens"],
        record["cache_read_tokens"],
        record["cache_write_tokens"],
        record["output_tokens"],
    )


def import_trace(tmp_path: Path, options: list[str], trace: Path) -> list[dict]:
    output = tmp_path / "out.jsonl"
    assert run_cli("import-trace", *options, "--output", output, trace) == 0
    return read_lines(output)


def test_mooncake_cache_ttl_edge(tmp_path):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            {"timestamp": 0, "input_length": 1500, "output_length": 10, "hash_ids": [1, 2, 3]},
            # 300 s later: blocks 1 and 2 were used exactly cache-ttl ago, so they are live.
            {"timestamp": 300000, "input_length": 1500, "output_length": 20, "hash_ids": [1, 2, 4]},
            # 300.001 s after their last use: blocks 1 and 2 expired.
            {"timestamp": 600001, "input_length": 1200, "output_length": 30, "hash_ids": [1, 2]},
        ],
    )
    records = import_trace(tmp_path, MOONCAKE, trace)
    assert [tokens(r) for r in records] == [
        (1500, 0, 0, 10),
        (1500 - 1024, 1024, 0, 20),
        (1200, 0, 0, 30),
    ]
    assert [r["ts"] for r in records] == [
        "2026-01-05T00:00:00.000Z",
        "2026-01-05T00:05:00.000Z",
        "2026-01-05T00:10:00.001Z",
    ]


def test_mooncake_counts_only_leading_live_blocks(tmp_path):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            {"timestamp": 0, "input_length": 2000, "output_length": 1, "hash_ids": [1, 2, 3, 4]},
            # Block 9 is new, so the live blocks 2..4 behind it are not a cached prefix.
            {"timestamp": 1000, "input_length": 2000, "output_length": 1, "hash_ids": [9, 2, 3, 4]},
            # 1 and 2 are live, 5 is new, 3 is live but no longer leading.
            {"timestamp": 2000, "input_length": 2000, "output_length": 1, "hash_ids": [1, 2, 5, 3]},
        ],
    )
    records = import_trace(tmp_path, [*MOONCAKE, "--block-size", "100"], trace)
    assert [r["cache_read_tokens"] for r in records] == [0, 0, 200]
    assert [r["input_tokens"] for r in records] == [2000, 2000, 1800]


def test_mooncake_cache_read_capped_at_input_length(tmp_path):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            {"timestamp": 0, "input_length": 1500, "output_length": 5, "hash_ids": [1, 2, 3]},
            # Three live blocks are 1,536 tokens, more than the 1,400-token prompt.
            {"timestamp": 500, "input_length": 1400, "output_length": 5, "hash_ids": [1, 2, 3]},
        ],
    )
    records = import_trace(tmp_path, MOONCAKE, trace)
    assert tokens(records[1]) == (0, 1400, 0, 5)


def test_mooncake_options_and_record_fields(tmp_path):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            {"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [7]},
            {"timestamp": 1500, "input_length": 600, "output_length": 5, "hash_ids": [7]},
            {"timestamp": 12500, "input_length": 600, "output_length": 5, "hash_ids": [7]},
        ],
    )
    options = [*MOONCAKE, "--feature", "chat", "--cache-ttl", "10", "--block-size", "256"]
    records = import_trace(tmp_path, options, trace)
    assert [r["cache_read_tokens"] for r in records] == [0, 256, 0]
    assert records[1] == {
        "ts": "2026-01-05T00:00:01.500Z",
        "request_id": "trace-2",
        "kind": "model",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 344,
        "cache_read_tokens": 256,
        "cache_write_tokens": 0,
        "output_tokens": 5,
        "status": "ok",
        "attempt": 1,
        "feature": "chat",
    }


def test_mooncake_skips_invalid_rows(tmp_path, caplog):
    trace = write_jsonl(
        tmp_path / "trace.jsonl",
        [
            {"timestamp": 0, "input_length": 100, "output_length": 1, "hash_ids": [1]},
            "{not json",
            {"timestamp": 1, "input_length": -5, "output_length": 1, "hash_ids": [2]},
            {"timestamp": "soon", "input_length": 5, "output_length": 1, "hash_ids": [2]},
            {"timestamp": 2, "input_length": 5, "output_length": 1},
            {"timestamp": 3, "input_length": 5, "output_length": True, "hash_ids": []},
            [1, 2, 3],
            {"timestamp": 4, "input_length": 50, "output_length": 2, "hash_ids": []},
        ],
    )
    records = import_trace(tmp_path, MOONCAKE, trace)
    assert [r["request_id"] for r in records] == ["trace-1", "trace-8"]
    assert "skipped 6 of 8 rows" in caplog.text
    assert "first at line 2: invalid JSON" in caplog.text


def test_mooncake_requires_start(tmp_path, capsys):
    trace = write_jsonl(tmp_path / "trace.jsonl", [{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": []}])
    with pytest.raises(SystemExit) as exit_info:
        run_cli("import-trace", "--format", "mooncake", "--provider", "openai", "--model", "gpt-4o", trace)
    assert exit_info.value.code == 2
    assert "--format mooncake needs --start" in capsys.readouterr().err


def test_no_valid_rows_exits_1(tmp_path, caplog):
    trace = write_jsonl(tmp_path / "trace.jsonl", ["{}", '{"timestamp": -1}'])
    assert run_cli("import-trace", *MOONCAKE, "--output", tmp_path / "out.jsonl", trace) == 1
    assert "no valid rows" in caplog.text


def test_missing_trace_exits_1(tmp_path, caplog):
    assert run_cli("import-trace", *MOONCAKE, tmp_path / "absent.jsonl") == 1
    assert "No such file or directory" in caplog.text


AZURE_CSV = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:04.5,bad,8
2023-11-16 25:00:00.0000000,10,8
2023-11-16 18:17:05.0000000,120,-3
2023-11-16 18:18:04.0319650,7,0
"""


def test_azure_timestamps_in_utc(tmp_path, caplog):
    trace = tmp_path / "azure.csv"
    trace.write_text(AZURE_CSV)
    records = import_trace(tmp_path, [*AZURE, "--feature", "code"], trace)
    assert [r["ts"] for r in records] == [
        "2023-11-16T18:17:03.979960Z",
        "2023-11-16T18:17:04.031960Z",
        "2023-11-16T18:18:04.031965Z",
    ]
    assert [tokens(r) for r in records] == [(4808, 0, 0, 10), (3180, 0, 0, 8), (7, 0, 0, 0)]
    assert [r["request_id"] for r in records] == ["azure-2", "azure-3", "azure-7"]
    assert all(r["feature"] == "code" for r in records)
    assert "skipped 3 of 6 rows" in caplog.text


def test_azure_shifted_start(tmp_path):
    trace = tmp_path / "azure.csv"
    # The first row is invalid, so the first valid row moves to --start.
    trace.write_text("GeneratedTokens,ContextTokens,TIMESTAMP\n1,x,2023-11-16 18:00:00\n" + "\n".join(
        ["10,4808,2023-11-16 18:17:03.9799600", "8,3180,2023-11-16 18:17:04.0319600", "1,1,2023-11-16 19:17:03.9799600"]
    ) + "\n")
    records = import_trace(tmp_path, [*AZURE, "--start", "2026-01-05T12:00:00+01:00"], trace)
    assert [r["ts"] for r in records] == [
        "2026-01-05T11:00:00.000Z",
        "2026-01-05T11:00:00.052Z",
        "2026-01-05T12:00:00.000Z",
    ]
    assert [tokens(r) for r in records] == [(4808, 0, 0, 10), (3180, 0, 0, 8), (1, 0, 0, 1)]


def test_azure_missing_column_exits_1(tmp_path, caplog):
    trace = tmp_path / "azure.csv"
    trace.write_text("TIMESTAMP,Tokens\n2023-11-16 18:17:03,5\n")
    assert run_cli("import-trace", *AZURE, trace) == 1
    assert "lacks the columns ['ContextTokens', 'GeneratedTokens']" in caplog.text


def test_mooncake_options_rejected_for_azure(tmp_path):
    trace = tmp_path / "azure.csv"
    trace.write_text(AZURE_CSV)
    with pytest.raises(SystemExit):
        run_cli("import-trace", *AZURE, "--cache-ttl", "60", trace)


# The public traces beside the repository.


@pytest.mark.datasets
def test_mooncake_dataset(tmp_path, datasets_dir):
    trace = datasets_dir / "mooncake_conversation_trace.jsonl"
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    records = import_trace(tmp_path, MOONCAKE, trace)
    assert len(records) == len(rows) == 12031
    assert sum(r["input_tokens"] + r["cache_read_tokens"] for r in records) == sum(r["input_length"] for r in rows)
    assert sum(r["output_tokens"] for r in records) == sum(r["output_length"] for r in rows)
    assert all(r["cache_read_tokens"] % 512 == 0 or r["input_tokens"] == 0 for r in records)
    hit_ratio = sum(r["cache_read_tokens"] for r in records) / sum(r["input_length"] for r in rows)
    assert 0.2 < hit_ratio < 0.95, hit_ratio
    assert records[-1]["ts"] == "2026-01-05T00:58:56.999Z"


@pytest.mark.datasets
@pytest.mark.parametrize(
    ("name", "rows"), [("azure_llm_inference_2023_code.csv", 8819), ("azure_llm_inference_2023_conv.csv", 19366)]
)
def test_azure_datasets(tmp_path, datasets_dir, name, rows):
    trace = datasets_dir / name
    with open(trace, newline="") as source:
        expected = list(csv.DictReader(source))
    records = import_trace(tmp_path, [*AZURE, "--start", START], trace)
    assert len(records) == len(expected) == rows
    assert sum(r["input_tokens"] for r in records) == sum(int(row["ContextTokens"]) for row in expected)
    assert sum(r["output_tokens"] for r in records) == sum(int(row["GeneratedTokens"]) for row in expected)
    assert records[0]["ts"] == "2026-01-05T00:00:00.000Z"
    assert records[-1]["ts"] < "2026-01-05T01:00:00"


def test_writes_to_stdout_by_default(tmp_path, capsysbinary):
    trace = tmp_path / "azure.csv"
    trace.write_text(AZURE_CSV)
    assert run_cli("import-trace", *AZURE, trace) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert [json.loads(line)["input_tokens"] for line in lines] == [4808, 3180, 7]

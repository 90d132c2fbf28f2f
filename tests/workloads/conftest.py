from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from llm_cost_exporter import cli
from llm_cost_exporter.workloads.generator import WorkloadGenerator
from llm_cost_exporter.workloads.profile import load_profile
from llm_cost_exporter.workloads.timeline import Timeline
from llm_cost_exporter.workloads.timestamps import parse_rfc3339

# A Monday, so a one-day run has weekday traffic throughout.
START = "2026-11-02T00:00:00Z"


def run_cli(*args: str) -> int:
    return cli.main([str(arg) for arg in args])


def read_lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def generate(timeline: Timeline, seed: int, days: float, start: str = START) -> list[dict]:
    """Generate `days` of requests in memory and return the parsed records."""
    begin = parse_rfc3339(start)
    generator = WorkloadGenerator(timeline, seed, begin)
    records = []
    for ts, record in generator.events(end=begin + days * 86400):
        record["ts"] = ts  # Unix seconds: simpler to compare than the formatted string
        records.append(record)
    return records


@pytest.fixture(scope="session")
def default_profile():
    return load_profile()


@pytest.fixture(scope="session")
def one_day(default_profile) -> list[dict]:
    """One simulated weekday of the default profile (about 150,000 records)."""
    return generate(Timeline(default_profile), seed=7, days=1)


@pytest.fixture(scope="session")
def sample_file(tmp_path_factory) -> Path:
    """20,000 lines written by the CLI, for checks of the native format on disk."""
    path = tmp_path_factory.mktemp("simulate") / "gateway.jsonl"
    assert run_cli("simulate", "--seed", "11", "--start", START, "--events", "20000", "--output", path) == 0
    return path

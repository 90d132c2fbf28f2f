"""Live mode: lines appended at a fixed rate in wall-clock time, with current timestamps."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from llm_cost_exporter.workloads.generator import WorkloadGenerator
from llm_cost_exporter.workloads.output import write_live
from llm_cost_exporter.workloads.timeline import Timeline
from llm_cost_exporter.workloads.timestamps import parse_rfc3339

from .conftest import read_lines


class FakeClock:
    """Monotonic and wall clocks that advance only when the writer sleeps."""

    def __init__(self, wall_start: float):
        self.now = 0.0
        self.wall_start = wall_start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_write_live_paces_lines(default_profile):
    clock = FakeClock(wall_start=1_800_000_000.0)
    events = WorkloadGenerator(Timeline(default_profile), 1, 0.0).events()
    out = io.BytesIO()
    written = write_live(
        events, out, rate=20, duration=3, wall_clock=clock.wall, monotonic=clock.monotonic, sleep=clock.sleep
    )
    lines = out.getvalue().splitlines()
    assert written == len(lines) == 60
    stamps = [parse_rfc3339(orjson.loads(line)["ts"]) for line in lines]
    assert stamps[0] == 1_800_000_000.0
    assert stamps[-1] == 1_800_000_000.0 + 59 / 20
    assert {round(b - a, 3) for a, b in zip(stamps, stamps[1:])} == {0.05}
    assert max(clock.sleeps) <= 0.1


def test_write_live_stops_on_request(default_profile):
    clock = FakeClock(wall_start=0.0)
    events = WorkloadGenerator(Timeline(default_profile), 1, 0.0).events()
    out = io.BytesIO()
    written = write_live(
        events,
        out,
        rate=100,
        should_stop=lambda: clock.now >= 1.0,
        wall_clock=clock.wall,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    assert 99 <= written <= 101


def simulate_process(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "llm_cost_exporter.cli", "simulate", *args]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True)


def test_live_rate_over_short_run(tmp_path: Path):
    path = tmp_path / "live.jsonl"
    path.write_text("")  # live mode appends to an existing file
    began = time.time()
    process = simulate_process("--rate", "200", "--duration", "1.5s", "--output", str(path))
    _, stderr = process.communicate(timeout=20)
    finished = time.time()
    assert process.returncode == 0, stderr
    records = read_lines(path)
    assert len(records) == 300
    stamps = [parse_rfc3339(r["ts"]) for r in records]
    assert stamps[0] >= began - 1
    assert stamps[-1] <= finished
    assert 1.3 <= stamps[-1] - stamps[0] <= 1.6
    assert "stopped (--duration reached) after writing 300 lines" in stderr


def test_live_stops_cleanly_on_sigterm(tmp_path: Path):
    path = tmp_path / "live.jsonl"
    process = simulate_process("--rate", "100", "--output", str(path))
    deadline = time.monotonic() + 15
    while (not path.exists() or path.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "stopped (SIGTERM)" in stderr
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the last line is incomplete"
    assert len(read_lines(path)) >= 30

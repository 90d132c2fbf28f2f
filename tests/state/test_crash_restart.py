"""Kill the exporter with SIGKILL again and again while a writer rotates its log, and check the counts.

A writer thread appends native log lines (some of them invalid) and rotates the log by rename,
by rename and gzip, and by copytruncate. The exporter is killed with SIGKILL at random moments,
sometimes before it is ready, and restarted. A scraper thread polls /metrics throughout and
records any counter or histogram sample that went down. At the end the exposed counters must
equal the totals computed from the lines written.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ExporterProcess, free_port, wait_until

RESTARTS = 22
FEATURES = ("search", "support", "agent")
SEED = int(os.environ.get("CRASH_TEST_SEED", "20260105"))


class GatewayWriter(threading.Thread):
    """Appends log lines and rotates the log, keeping the totals of what it wrote."""

    def __init__(self, directory: Path, seed: int) -> None:
        super().__init__(daemon=True)
        self.directory = directory
        self.path = directory / "gateway.jsonl"
        self.random = random.Random(seed)
        self.stop_event = threading.Event()
        self.tokens: dict[tuple[str, str], int] = defaultdict(int)  # (feature, token_type) -> tokens
        self.calls: dict[str, int] = defaultdict(int)
        self.accepted = 0
        self.rejected = 0
        self.rotations: dict[str, int] = defaultdict(int)
        self._sequence = 0
        self._ts = 1767571200.0

    def run(self) -> None:
        methods = ("rename", "gzip", "copytruncate")
        while not self.stop_event.is_set():
            for _ in range(self.random.randint(20, 60)):
                self._write_batch()
                time.sleep(0.005)
            method = methods[self._sequence % len(methods)]
            self._rotate(method)
            self.rotations[method] += 1

    def _write_batch(self) -> None:
        lines = [self._line() for _ in range(self.random.randint(1, 8))]
        data = b"".join(line + b"\n" for line in lines)
        with open(self.path, "ab") as stream:
            if self.random.random() < 0.2:  # a line split over two writes
                cut = self.random.randint(1, len(data) - 1)
                stream.write(data[:cut])
                stream.flush()
                time.sleep(0.002)
                stream.write(data[cut:])
            else:
                stream.write(data)

    def _line(self) -> bytes:
        self._ts += 0.25
        if self.random.random() < 0.03:
            self.rejected += 1
            return b'{"ts": %.2f, "kind": "model", "provider": "open' % self._ts
        feature = self.random.choice(FEATURES)
        input_tokens = self.random.randint(0, 5000)
        cache_read = self.random.randint(0, 20000)
        output = self.random.randint(1, 2000)
        self.tokens[(feature, "input")] += input_tokens
        self.tokens[(feature, "cache_read")] += cache_read
        self.tokens[(feature, "output")] += output
        self.calls[feature] += 1
        self.accepted += 1
        return (b'{"ts": %.2f, "kind": "model", "provider": "openai", "model": "gpt-4o", "feature": "%s", '
                b'"input_tokens": %d, "cache_read_tokens": %d, "output_tokens": %d}'
                % (self._ts, feature.encode(), input_tokens, cache_read, output))

    def _rotate(self, method: str) -> None:
        self._sequence += 1
        rotated = self.directory / f"gateway-{self._sequence:04d}.jsonl"
        if method == "copytruncate":
            shutil.copyfile(self.path, rotated)
            os.truncate(self.path, 0)
            return
        os.rename(self.path, rotated)
        if method == "gzip":
            with open(rotated, "rb") as plain, gzip.open(f"{rotated}.gz", "wb") as packed:
                shutil.copyfileobj(plain, packed)
            os.unlink(rotated)


class Scraper(threading.Thread):
    """Scrapes /metrics until stopped and records every counter or histogram sample that went down."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop_event = threading.Event()
        self.highest: dict[tuple, float] = {}
        self.decreases: list[str] = []
        self.scrapes = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                text = requests.get(self.url, timeout=2).text
            except requests.RequestException:
                time.sleep(0.02)
                continue
            self.scrapes += 1
            for family in text_string_to_metric_families(text):
                if family.type not in ("counter", "histogram"):
                    continue
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    previous = self.highest.get(key, 0.0)
                    if sample.value < previous:
                        self.decreases.append(f"{sample.name}{sample.labels}: {previous} -> {sample.value}")
                    else:
                        self.highest[key] = sample.value
            time.sleep(0.02)


def samples(text: str, name: str) -> dict[tuple, float]:
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                result[tuple(sorted(sample.labels.items()))] = sample.value
    return result


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for key, v in samples(text, name).items() if labels.items() <= dict(key).items())


@pytest.mark.slow
def test_sigkill_restarts_keep_exact_counts(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    listen = f"127.0.0.1:{free_port()}"
    config = {
        "server": {"listen": listen},
        "state": {"path": str(tmp_path / "state.db"), "checkpoint_interval": "200ms"},
        "sources": [{"name": "gateway", "type": "file", "path": str(logs / "gateway*.jsonl*"),
                     "poll_interval": "50ms"}],
        "pricing": {"overrides": [{"provider": "openai", "model": "gpt-4o", "input": 2.5, "cache_read": 1.25,
                                   "cache_write": 0, "output": 10}]},
    }
    chooser = random.Random(SEED)
    writer = GatewayWriter(logs, SEED)
    scraper = Scraper(f"http://{listen}/metrics")
    writer.start()
    scraper.start()
    started = time.monotonic()
    try:
        for restart in range(RESTARTS):
            ready_first = restart % 2 == 0
            exporter = ExporterProcess(tmp_path / "exporter", config, wait=ready_first)
            time.sleep(chooser.uniform(0.1, 0.9) if ready_first else chooser.uniform(0.05, 0.6))
            exporter.proc.kill()
            exporter.proc.wait()
            exporter.stop()
        writer.stop_event.set()
        writer.join()

        with ExporterProcess(tmp_path / "exporter", config) as exporter:
            def caught_up() -> str | None:
                text = exporter.metrics_text()
                read = value(text, "llm_exporter_events_total")
                return text if read >= writer.accepted + writer.rejected else None

            text = wait_until(caught_up, timeout=30, interval=0.2, what="the exporter to read every line")
            time.sleep(0.5)  # one more checkpoint and scrape: a double count would show now
            text = exporter.metrics_text()
    finally:
        writer.stop_event.set()
        scraper.stop_event.set()
        scraper.join()
    elapsed = time.monotonic() - started

    assert scraper.decreases == [], f"seed {SEED}: a scrape saw a counter go down"
    assert scraper.scrapes > RESTARTS
    assert all(count >= 5 for count in writer.rotations.values()), writer.rotations
    assert value(text, "llm_exporter_events_total", result="accepted") == writer.accepted
    assert value(text, "llm_exporter_events_total", result="rejected") == writer.rejected
    assert value(text, "llm_exporter_events_rejected_total", reason="invalid_json") == writer.rejected
    for (feature, token_type), expected in sorted(writer.tokens.items()):
        exposed = value(text, "llm_tokens_total", feature=feature, token_type=token_type)
        assert exposed == expected, f"seed {SEED}: {feature} {token_type} tokens"
    for feature, expected in sorted(writer.calls.items()):
        assert value(text, "llm_calls_total", feature=feature, status="ok") == expected, f"seed {SEED}: {feature}"
    expected_usd = sum(writer.tokens[(f, "input")] * 2.5 + writer.tokens[(f, "cache_read")] * 1.25
                       + writer.tokens[(f, "output")] * 10 for f in FEATURES) / 1e6
    assert value(text, "llm_cost_usd_total") == pytest.approx(expected_usd, rel=1e-9)
    assert elapsed < 90

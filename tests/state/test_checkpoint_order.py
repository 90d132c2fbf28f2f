"""Checkpoint, then publish: a scrape never returns a number that a crash could take back."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_cost_exporter.config import parse_config
from llm_cost_exporter.service import Service
from llm_cost_exporter.state import StateStore


def write_lines(path: Path, first: int, count: int) -> None:
    with open(path, "ab") as stream:
        for n in range(first, first + count):
            stream.write(b'{"ts": %d, "kind": "model", "provider": "openai", "model": "gpt-4o", '
                         b'"input_tokens": 10, "output_tokens": 1}\n' % (1767571200 + n))


@pytest.fixture
def setup(tmp_path):
    log = tmp_path / "gateway.jsonl"
    log.touch()
    config = parse_config(f"""
state: {{path: {tmp_path / 'state.db'}}}
sources: [{{name: gateway, type: file, path: {log}}}]
""")
    return config, log


def accepted(service: Service) -> float:
    return service._snapshot.events.get(("gateway", "accepted"), 0.0)


def test_ingested_batch_is_not_published_before_checkpoint(setup):
    config, log = setup
    service = Service(config)
    service.restore()
    write_lines(log, 0, 5)
    assert service.poll_once() == 5
    assert accepted(service) == 0.0
    service.checkpoint()
    assert accepted(service) == 5.0
    service.close()


def test_failed_checkpoint_publishes_nothing(setup, monkeypatch):
    config, log = setup
    service = Service(config)
    service.restore()
    write_lines(log, 0, 3)
    service.poll_once()

    def fail(entries):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.store, "save", fail)
    with pytest.raises(OSError):
        service.checkpoint()
    assert accepted(service) == 0.0
    service.close()


def test_restart_continues_from_published_values(setup):
    config, log = setup
    service = Service(config)
    service.restore()
    write_lines(log, 0, 4)
    service.poll_once()
    service.checkpoint()
    published = accepted(service)
    write_lines(log, 4, 3)
    service.poll_once()  # ingested, never checkpointed: lost with the crash, then read again
    service.store.close()  # a crash: no last checkpoint, no close

    restarted = Service(config)
    restarted.restore()
    assert accepted(restarted) == published == 4.0
    restarted.poll_once()
    restarted.checkpoint()
    assert accepted(restarted) == 7.0
    restarted.close()


def test_positions_and_aggregator_saved_together(setup):
    config, log = setup
    service = Service(config)
    service.restore()
    write_lines(log, 0, 2)
    service.poll_once()
    service.checkpoint()
    service.close()

    saved = StateStore(config.state.path).load()
    [entry] = saved["sources"]["gateway"]["files"]
    assert entry["offset"] == log.stat().st_size
    assert ("gateway", "accepted", 2.0) in map(tuple, saved["aggregator"]["events"])

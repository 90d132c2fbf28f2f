from __future__ import annotations

import sqlite3

import orjson

from llm_cost_exporter.config import parse_config
from llm_cost_exporter.service import Service


def make_service(tmp_path):
    log = tmp_path / "gateway.jsonl"
    config = parse_config(f"""
sources: [{{name: gw, type: file, path: "{log}"}}]
state: {{path: "{tmp_path / 'state.db'}"}}
cohorts: {{windows: [1h]}}
""")
    service = Service(config)
    service.restore()
    return service, log


def write(log, user: str, ts: float) -> None:
    with open(log, "ab") as stream:
        stream.write(orjson.dumps({"ts": ts, "kind": "model", "provider": "openai", "model": "gpt-4o",
                                   "input_tokens": 1000, "user_id": user, "cohort": "pro"}) + b"\n")


def saved_keys(tmp_path) -> dict[str, bytes]:
    with sqlite3.connect(tmp_path / "state.db") as db:
        return dict(db.execute("SELECT key, value FROM checkpoint"))


def test_windows_saved_on_schedule_and_at_stop(tmp_path, monkeypatch):
    service, log = make_service(tmp_path)
    write(log, "alice", 1_796_000_000)
    service.poll_once()
    service.checkpoint()
    first = saved_keys(tmp_path)
    assert b"alice" in first["aggregator_windows"]

    write(log, "bob", 1_796_000_010)
    service.poll_once()
    service.checkpoint()
    second = saved_keys(tmp_path)
    assert second["aggregator_windows"] == first["aggregator_windows"]  # not due yet
    assert second["aggregator"] != first["aggregator"]

    service.checkpoint(final=True)
    assert b"bob" in saved_keys(tmp_path)["aggregator_windows"]
    service.close()

    restarted, _ = make_service(tmp_path)
    assert set(restarted.aggregator.windows[3600.0].spend_by_user()) == {("pro", "alice"), ("pro", "bob")}
    restarted.close()


def test_unchanged_checkpoint_not_rewritten(tmp_path):
    service, log = make_service(tmp_path)
    write(log, "alice", 1_796_000_000)
    service.poll_once()
    service.checkpoint(final=True)
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE checkpoint SET value = ? WHERE key = 'sources'", (b'{"marker": 1}',))
    service.checkpoint()
    assert saved_keys(tmp_path)["sources"] == b'{"marker": 1}'  # same positions: the key was skipped
    service.close()


def test_failed_checkpoint_keeps_ingesting(tmp_path, monkeypatch):
    service, log = make_service(tmp_path)
    write(log, "alice", 1_796_000_000)
    service.poll_once()
    assert service._try_checkpoint()
    published = service._snapshot

    real_save = service.store.save

    def fail(entries):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.store, "save", fail)
    write(log, "bob", 1_796_000_010)
    service.poll_once()
    assert not service._try_checkpoint()
    assert service.checkpoint_failures == 1
    assert service._snapshot is published  # nothing unsaved is shown to scrapes

    monkeypatch.setattr(service.store, "save", real_save)
    assert service._try_checkpoint()
    assert service._snapshot is not published
    text = service.registry.collect()
    names = {family.name for family in text}
    assert "llm_exporter_checkpoint_failures" in names
    assert "llm_exporter_last_checkpoint_timestamp_seconds" in names
    service.close()

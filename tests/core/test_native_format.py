from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from llm_cost_exporter.aggregation import Aggregator
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.events import CallEvent
from llm_cost_exporter.formats import REJECT_REASONS, RecordRejected, make_parser
from llm_cost_exporter.formats.native import NativeParser
from llm_cost_exporter.formats.native_fast import NotFastPath, parse_fast
from llm_cost_exporter.ingest import RecordIngestor

TS = datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()

GOOD = {
    "ts": "2026-12-01T10:00:00Z",
    "kind": "model",
    "request_id": "r1",
    "call_id": "c1",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 100,
    "cache_read_tokens": 20,
    "cache_write_tokens": 10,
    "output_tokens": 50,
    "reasoning_tokens": 5,
    "feature": "search",
    "intent": "lookup",
    "user_id": "alice",
}


def line(**changes) -> bytes:
    record = {**GOOD, **changes}
    return orjson.dumps({key: value for key, value in record.items() if value is not ...})


BAD_RECORDS = [
    ("invalid_json", b'{"ts": 1, "kind": "model",'),
    ("invalid_json", b"\xff\xfe not utf-8"),
    ("not_an_object", b"[1, 2, 3]"),
    ("not_an_object", b'"a string"'),
    ("missing_field", line(ts=...)),
    ("missing_field", line(kind=...)),
    ("missing_field", line(provider=...)),
    ("missing_field", line(model="")),
    ("invalid_timestamp", line(ts="yesterday")),
    ("invalid_timestamp", line(ts=-5)),
    ("invalid_timestamp", line(ts=TS * 1000)),  # milliseconds, not seconds
    ("invalid_timestamp", line(ts=[1])),
    ("invalid_tokens", line(input_tokens=-1)),
    ("invalid_tokens", line(output_tokens=1.5)),
    ("invalid_tokens", line(cache_read_tokens="12")),
    ("invalid_tokens", line(cache_write_tokens=True)),
    ("invalid_tokens", line(reasoning_tokens=60)),  # more than output_tokens
    ("invalid_tokens", line(cache_write_1h_tokens=11)),  # more than cache_write_tokens
    ("unknown_kind", line(kind="embedding")),
    ("unknown_kind", line(kind=["model"])),
    ("invalid_field", line(status="maybe")),
    ("invalid_field", line(error_class="cosmic_ray")),
    ("invalid_field", line(attempt=0)),
    ("invalid_field", line(attempt="2")),
    ("invalid_field", line(cost_usd=-0.5)),
    ("invalid_field", line(feature={"name": "search"})),
    ("invalid_field", line(request_id=["r1"])),
]


@pytest.mark.parametrize(("reason", "record"), BAD_RECORDS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BAD_RECORDS)])
def test_bad_record_rejected_with_reason(reason, record):
    with pytest.raises(RecordRejected) as caught:
        NativeParser().parse(record)
    assert caught.value.reason == reason


def test_every_reason_covered():
    covered = {reason for reason, _ in BAD_RECORDS} | {"oversized_line"}
    assert covered == set(REJECT_REASONS)


def test_bad_records_counted_and_neighbours_kept():
    config = parse_config("")
    aggregator = Aggregator(config)
    ingestor = RecordIngestor("gw", make_parser("native", config.labels.attribution), aggregator, max_record_bytes=4096)
    records = []
    for reason, bad in BAD_RECORDS:
        records += [line(call_id=f"before-{reason}"), bad]
    records.append(b'{"ts": 1, "kind": "model", "padding": "' + b"x" * 5000 + b'"}')
    records.append(line(call_id="last"))

    accepted = ingestor.ingest(records)

    assert accepted == len(BAD_RECORDS) + 1
    assert aggregator.events[("gw", "accepted")] == len(BAD_RECORDS) + 1
    assert aggregator.events[("gw", "rejected")] == len(BAD_RECORDS) + 1
    for reason in REJECT_REASONS:
        expected = sum(1 for r, _ in BAD_RECORDS if r == reason) + (reason == "oversized_line")
        assert aggregator.rejected[("gw", reason)] == expected, reason
    input_tokens = sum(values[0] for values in aggregator.model_series.values())
    assert input_tokens == 100 * (len(BAD_RECORDS) + 1)


def test_fields_parsed():
    [event] = NativeParser().parse(line(retry_of="c0", attempt=2, status="error", error_class="timeout",
                                        cost_usd=0.25, prompt_prefix_hash="abc", cohort="pro"))
    assert event.ts == TS
    assert (event.request_id, event.call_id, event.retry_of) == ("r1", "c1", "c0")
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens) == (100, 20, 10)
    assert (event.output_tokens, event.reasoning_tokens) == (50, 5)
    assert (event.status, event.error_class, event.attempt) == ("error", "timeout", 2)
    assert event.cost_usd == 0.25
    assert event.prompt_prefix_hash == "abc"
    assert event.attributes["feature"] == "search"
    assert event.attributes["cohort"] == "pro"
    assert event.attributes["cost_center"] == ""


def test_defaults_and_unix_seconds():
    [event] = NativeParser().parse(b'{"ts": 1796119200.25, "kind": "tool", "tool": "web"}')
    assert event.ts == 1796119200.25
    assert event.kind == "tool"
    assert event.status == "ok"
    assert event.attempt == 1
    assert event.input_tokens == 0
    assert event.attributes["feature"] == ""


def test_error_without_class_becomes_other():
    [event] = NativeParser().parse(line(status="error"))
    assert event.error_class == "other"


def test_timestamp_without_zone_is_utc():
    [event] = NativeParser().parse(line(ts="2026-12-01T10:00:00"))
    assert event.ts == TS


def test_numbers_in_text_fields_coerced():
    [event] = NativeParser().parse(line(customer_id=12345, request_id=7))
    assert event.attributes["customer_id"] == "12345"
    assert event.request_id == "7"


def test_nulls_take_defaults():
    [event] = NativeParser().parse(line(feature=None, input_tokens=None, attempt=None, status=None))
    assert event.attributes["feature"] == ""
    assert event.input_tokens == 0
    assert event.attempt == 1
    assert event.status == "ok"


def test_label_paths_read_nested_fields():
    parser = NativeParser(attribution=["feature", "team"], label_paths={"feature": "metadata.tags.feature",
                                                                       "team": "metadata.team"})
    [event] = parser.parse(line(feature="ignored", metadata={"tags": {"feature": "chat"}, "team": 42}))
    assert event.attributes["feature"] == "chat"
    assert event.attributes["team"] == "42"


def test_missing_label_path_is_empty():
    parser = NativeParser(attribution=["feature"], label_paths={"feature": "metadata.feature"})
    [event] = parser.parse(line())
    assert event.attributes["feature"] == ""


@pytest.mark.parametrize("changes", [
    {},
    {"ts": TS + 0.5},
    {"status": "error", "error_class": "rate_limit", "attempt": 3, "retry_of": "c0"},
    {"cache_write_1h_tokens": 4, "cost_usd": 1},
    {"kind": "request_end", "provider": ..., "model": ...},
    {"customer_id": "acme", "api_key_id": "key-1", "product_line": "pl", "cost_center": "cc"},
])
def test_fast_path_matches_tolerant_path(changes):
    record = line(**changes)
    fast = parse_fast(record)
    tolerant = NativeParser().event_from_dict(orjson.loads(record))
    for field in CallEvent.__struct_fields__:
        assert getattr(fast, field) == getattr(tolerant, field), field


@pytest.mark.parametrize("changes", [{"customer_id": 5}, {"feature": None}, {"input_tokens": -1},
                                     {"kind": "x"}, {"ts": "nope"}])
def test_fast_path_declines_unusual_records(changes):
    with pytest.raises(NotFastPath):
        parse_fast(line(**changes))


def test_rejection_log_names_file_and_line(tmp_path, caplog):
    from llm_cost_exporter.commands.replay import read_log

    log = tmp_path / "gateway.jsonl"
    log.write_bytes(line() + b"\n\nnot json\n" + line(input_tokens=-1) + b"\n")
    config = parse_config("")
    ingestor = RecordIngestor("replay", make_parser("native", config.labels.attribution), Aggregator(config))
    with caplog.at_level("WARNING"):
        read_log(log, ingestor)
    messages = [record.getMessage() for record in caplog.records]
    invalid_json = [message for message in messages if "at gateway.jsonl line 3: invalid_json" in message]
    assert len(invalid_json) == 1, messages
    assert "'not json'" in invalid_json[0]
    assert any("at gateway.jsonl line 4: invalid_tokens" in message for message in messages), messages
